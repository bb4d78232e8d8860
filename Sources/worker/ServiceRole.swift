import Foundation
import Logging
import ParameterServer
#if canImport(Glibc)
import Glibc
#endif

/// MXNet's launch convention: a tracker (launch.py, Kubeflow's MXJob, SageMaker) starts one
/// command for every node and puts the role in `DMLC_ROLE`. So `worker` started with
/// `DMLC_ROLE=scheduler` or `server` runs that role, exactly as `param-server` would, and
/// `DMLC_INTERFACE` (e.g. `eth0`) names the interface whose IPv4 address a server announces
/// (unless `DMLC_NODE_HOST` gives the address itself).
enum ServiceRole {
    /// Runs the scheduler or a server from `environment`; returns the exit status (README,
    /// "Exit status": 0 after the orderly end or a stop signal, 1 when the job failed, 2 for a
    /// configuration error).
    static func run(environment: [String: String], logger: Logger) -> Int32 {
        var env = environment
        if let interface = env["DMLC_INTERFACE"], env["DMLC_NODE_HOST"] == nil {
            guard let address = ipv4Address(of: interface) else {
                let known = interfaceNames().joined(separator: ", ")
                FileHandle.standardError.write(Data("worker: DMLC_INTERFACE=\(interface): no IPv4 address on such an interface here (interfaces: \(known)); name another or set DMLC_NODE_HOST\n".utf8))
                return 2
            }
            env["DMLC_NODE_HOST"] = address
        }
        let config: ClusterConfig
        do {
            config = try ClusterConfig.resolve(environment: env)
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8))
            return 2
        }
        let stop = StopFlag()
        let signals = stop.installSignalHandlers()
        defer { signals.forEach { $0.cancel() } }
        do {
            switch config.role {
            case .scheduler:
                try Rendezvous.runScheduler(config: config, logger: logger, stopFlag: stop)
            case .server:
                switch try ServerRunner(config: config, logger: logger, stopFlag: stop).run() {
                case .shutdown: logger.info("shut down by worker 0")
                case .interrupted: logger.info("interrupted; stopped")
                case .failed(let reason):
                    FileHandle.standardError.write(Data("worker: job failed: \(reason)\n".utf8))
                    return 1
                }
            case .worker:
                preconditionFailure("ServiceRole.run is called for the scheduler and servers only")
            }
        } catch ClusterError.interrupted {
            logger.info("interrupted; stopped")
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8))
            return 1
        }
        return 0
    }

    /// The first IPv4 address of the interface called `name` (e.g. `lo` → 127.0.0.1).
    static func ipv4Address(of name: String) -> String? {
        var found: String?
        forEachIPv4Interface { interface, address in
            if found == nil && interface == name { found = address }
        }
        return found
    }

    /// Names of the interfaces with an IPv4 address, for error messages.
    static func interfaceNames() -> [String] {
        var names: [String] = []
        forEachIPv4Interface { interface, _ in if !names.contains(interface) { names.append(interface) } }
        return names
    }

    private static func forEachIPv4Interface(_ body: (String, String) -> Void) {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let sockaddr = entry.pointee.ifa_addr, sockaddr.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                withUnsafePointer(to: inet.pointee.sin_addr) { inet_ntop(AF_INET, $0, &text, socklen_t(INET_ADDRSTRLEN)) != nil }
            }
            if ok { body(String(cString: entry.pointee.ifa_name), String(cString: text)) }
        }
    }
}
