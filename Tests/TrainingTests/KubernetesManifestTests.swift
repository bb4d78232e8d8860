import Foundation
import ParameterServer
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

    @Test("every role runs with CURVE: the keys Secret mounted read-only at PS_SECURE_DIR, files 0400; workers never get server.key")
    func secureKeys() throws {
        let clientFiles: Set = [CurveKeys.serverPublicFile, CurveKeys.clientSecretFile, CurveKeys.clientPublicFile]
        var secretNames: Set<String> = []
        for (file, binds) in [("scheduler.yaml", true), ("servers.yaml", true), ("workers.yaml", false)] {
            let job = try #require(try documents(file).first { $0["kind"] as? String == "Job" })
            let pod = path(job, "spec", "template", "spec")
            let container = path(pod, "containers", "0")
            let env = path(container, "env") as? [[String: Any]] ?? []
            let dir = try #require(env.first { $0["name"] as? String == "PS_SECURE_DIR" }?["value"] as? String, "\(file): no PS_SECURE_DIR")
            let mounts = path(container, "volumeMounts") as? [[String: Any]] ?? []
            let mount = try #require(mounts.first { $0["mountPath"] as? String == dir }, "\(file): nothing mounted at \(dir)")
            #expect(mount["readOnly"] as? Bool == true, "\(file)")
            let volumes = path(pod, "volumes") as? [[String: Any]] ?? []
            let volume = try #require(volumes.first { $0["name"] as? String == mount["name"] as? String }, "\(file)")
            let secret = try #require(volume["secret"] as? [String: Any], "\(file): the keys must come from a Secret")
            secretNames.insert(secret["secretName"] as? String ?? "")
            let mode = try #require(secret["defaultMode"] as? Int, "\(file): set defaultMode")
            #expect(mode & 0o077 == 0, "\(file): mode \(String(mode, radix: 8)) is readable by group or others; the keys loader refuses it")
            let items = (secret["items"] as? [[String: Any]])?.compactMap { $0["key"] as? String }
            if binds {
                #expect(items == nil, "\(file): the scheduler and servers need every key")
            } else {
                #expect(items.map(Set.init) == clientFiles, "\(file): workers get exactly \(clientFiles.sorted()), got \(items ?? [])")
            }
        }
        #expect(secretNames.count == 1, "one Secret for the cluster: \(secretNames)")
    }

    @Test("keys as a Kubernetes Secret volume lays them out (links into ..data/, files 0400) load")
    func secretVolumeLayout() throws {
        let fm = FileManager.default
        let made = fm.temporaryDirectory.appendingPathComponent("k8s-keys-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: made) }
        try CurveKeys.generate(into: made.path)
        // kubelet: DIR/..2026_…/FILE (0400), DIR/..data -> ..2026_…, DIR/FILE -> ..data/FILE.
        let mounted = made.appendingPathComponent("mounted"), timestamped = mounted.appendingPathComponent("..2026_11_30_00_00_00.1")
        try fm.createDirectory(at: timestamped, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: mounted.appendingPathComponent("..data").path, withDestinationPath: timestamped.lastPathComponent)
        for name in [CurveKeys.serverSecretFile, CurveKeys.serverPublicFile, CurveKeys.clientSecretFile, CurveKeys.clientPublicFile,
                     CurveKeys.authorizedFile] {
            try fm.copyItem(at: made.appendingPathComponent(name), to: timestamped.appendingPathComponent(name))
            try fm.setAttributes([.posixPermissions: 0o400], ofItemAtPath: timestamped.appendingPathComponent(name).path)
            try fm.createSymbolicLink(atPath: mounted.appendingPathComponent(name).path, withDestinationPath: "..data/\(name)")
        }
        let keys = try CurveKeys.load(directory: mounted.path)
        #expect(keys.serverSecret != nil && keys.authorized == [keys.clientPublic])
        // A group-readable file behind the link is still refused.
        try fm.setAttributes([.posixPermissions: 0o440], ofItemAtPath: timestamped.appendingPathComponent(CurveKeys.clientSecretFile).path)
        #expect(throws: SecurityError.self) { try CurveKeys.load(directory: mounted.path) }
    }
}
