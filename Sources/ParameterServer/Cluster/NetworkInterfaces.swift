import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// This machine's IPv4 interfaces, for `DMLC_INTERFACE` (MXNet's launch convention: the
/// interface, e.g. `eth0`, whose address a server announces to the workers).
public enum NetworkInterfaces {
    /// The first IPv4 address of the interface called `name` (e.g. `lo` → 127.0.0.1).
    public static func ipv4Address(of name: String) -> String? {
        var found: String?
        forEachIPv4Interface { interface, address in
            if found == nil && interface == name { found = address }
        }
        return found
    }

    /// Names of the interfaces with an IPv4 address, for error messages.
    public static func names() -> [String] {
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
