import Foundation
import Testing
import Yams

/// deploy/k8s cannot be applied here; these checks keep the manifests parseable and
/// consistent with each other and with the executables.
@Suite("Kubernetes manifests")
struct KubernetesManifestTests {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func documents(_ file: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: root.appendingPathComponent("deploy/k8s/\(file)"), encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    func path(_ object: Any?, _ keys: String...) -> Any? {
        var o = object
        for k in keys {
            if let i = Int(k), let a = o as? [Any] { o = a.indices.contains(i) ? a[i] : nil } else { o = (o as? [String: Any])?[k] }
        }
        return o
    }

    @Test("every manifest parses and has apiVersion, kind and a name")
    func parse() throws {
        for file in ["config.yaml", "scheduler.yaml", "servers.yaml", "workers.yaml"] {
            let docs = try documents(file)
            #expect(!docs.isEmpty, "\(file)")
            for d in docs {
                #expect(d["apiVersion"] is String && d["kind"] is String, "\(file)")
                #expect(path(d, "metadata", "name") is String, "\(file)")
            }
        }
    }

    @Test("cluster sizes agree: servers and workers = their indexed Jobs' completions")
    func consistency() throws {
        let config = try documents("config.yaml").first { path($0, "metadata", "name") as? String == "ssd-cluster" }
        let env = try #require(config?["data"] as? [String: Any])
        let servers = try #require(try documents("servers.yaml").first { $0["kind"] as? String == "Job" })
        let workers = try #require(try documents("workers.yaml").first { $0["kind"] as? String == "Job" })
        for (job, count) in [(servers, "DMLC_NUM_SERVER"), (workers, "DMLC_NUM_WORKER")] {
            #expect(Int(env[count] as? String ?? "") == path(job, "spec", "completions") as? Int, "\(count)")
            #expect(path(job, "spec", "completions") as? Int == path(job, "spec", "parallelism") as? Int, "\(count)")
            #expect(path(job, "spec", "completionMode") as? String == "Indexed", "\(count)")
        }
        // Servers advertise ssd-server-<index>.ssd-server: the pods' subdomain is the headless Service.
        let serverService = try documents("servers.yaml").first { $0["kind"] as? String == "Service" }
        #expect(path(serverService, "spec", "clusterIP") as? String == "None")
        #expect(path(servers, "spec", "template", "spec", "subdomain") as? String == path(serverService, "metadata", "name") as? String)
        let serverEnv = path(servers, "spec", "template", "spec", "containers", "0", "env") as? [[String: Any]] ?? []
        let host = serverEnv.first { $0["name"] as? String == "DMLC_NODE_HOST" }?["value"] as? String ?? ""
        #expect(host.hasPrefix("\(path(servers, "metadata", "name") as? String ?? "?")-$(") && host.contains(".ssd-server."), "\(host)")
        #expect(env["DMLC_PS_ROOT_URI"] as? String == "ssd-scheduler")
        let schedulerService = try documents("scheduler.yaml").first { $0["kind"] as? String == "Service" }
        #expect(path(schedulerService, "metadata", "name") as? String == "ssd-scheduler")
        #expect("\(path(schedulerService, "spec", "ports", "0", "port") ?? "")" == env["DMLC_PS_ROOT_PORT"] as? String)
    }

    @Test("containers run this package's executables with the right DMLC_ROLE")
    func roles() throws {
        let package = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        for (file, role, executable) in [("scheduler.yaml", "scheduler", "param-server"), ("servers.yaml", "server", "param-server"),
                                         ("workers.yaml", "worker", "worker")] {
            let workload = try #require(try documents(file).first { $0["kind"] as? String == "Job" })
            let container = path(workload, "spec", "template", "spec", "containers", "0")
            #expect((path(container, "args", "0") as? String) == executable, "\(file)")
            #expect(package.contains(".executable(name: \"\(executable)\""), "\(executable) is a product")
            let env = path(container, "env") as? [[String: Any]] ?? []
            #expect(env.contains { $0["name"] as? String == "DMLC_ROLE" && $0["value"] as? String == role }, "\(file)")
        }
    }

    @Test("servers and workers are scraped where they serve metrics: SSD_METRICS_PORT = prometheus.io/port = containerPort \"metrics\"")
    func metricsPort() throws {
        let config = try documents("config.yaml").first { path($0, "metadata", "name") as? String == "ssd-cluster" }
        let port = try #require(path(config, "data", "SSD_METRICS_PORT") as? String)
        for file in ["servers.yaml", "workers.yaml"] {
            let job = try #require(try documents(file).first { $0["kind"] as? String == "Job" })
            let annotations = path(job, "spec", "template", "metadata", "annotations") as? [String: Any] ?? [:]
            #expect(annotations["prometheus.io/scrape"] as? String == "true" && annotations["prometheus.io/port"] as? String == port, "\(file)")
            let ports = path(job, "spec", "template", "spec", "containers", "0", "ports") as? [[String: Any]] ?? []
            #expect(ports.contains { $0["name"] as? String == "metrics" && "\($0["containerPort"] ?? "")" == port }, "\(file)")
        }
    }

    @Test("no role is ever restarted: every workload is a Job with restartPolicy Never and backoffLimit 0")
    func restartPolicies() throws {
        // The scheduler exits once the cluster formed and servers exit 0 after worker 0's shutdown:
        // a restarted node could not rejoin, so a restart (StatefulSet, Deployment, OnFailure) only crash-loops.
        for file in ["scheduler.yaml", "servers.yaml", "workers.yaml"] {
            let workloads = try documents(file).filter { $0["kind"] as? String != "Service" }
            #expect(!workloads.isEmpty, "\(file)")
            for w in workloads {
                #expect(w["kind"] as? String == "Job", "\(file): \(w["kind"] ?? "?") restarts its pods; use a Job")
                #expect(path(w, "spec", "backoffLimit") as? Int == 0, "\(file)")
                #expect(path(w, "spec", "template", "spec", "restartPolicy") as? String == "Never", "\(file)")
            }
        }
    }
}
