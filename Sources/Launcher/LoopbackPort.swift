import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago: the launcher gives it to the scheduler
/// of a local cluster (MXNet's tracker probes for a free port the same way). Another program
/// may take it before the scheduler binds; the scheduler then fails with "address in use" and
/// the launch stops with that message.
///
/// The port is drawn below the kernel's ephemeral range (`ip_local_port_range`), so the local
/// port of an outgoing connection — which the kernel takes from that range at any moment — can
/// never be the one just handed out; and this process never hands out one port twice while
/// it runs (parallel tests each start clusters). Without room below the range it falls back to
/// a port the kernel picks.
public func freeLoopbackPort() throws(LauncherError) -> Int {
    let range = LoopbackPorts.ephemeralRange()
    let low = 10_000
    if range.lowerBound - low >= 1_000 {
        for _ in 0..<500 {
            let port = Int.random(in: low..<range.lowerBound)
            if LoopbackPorts.claim(port), (try? bindLoopback(port: port)) != nil { return port }
        }
    }
    for _ in 0..<50 {
        let port = try bindLoopback(port: 0)
        if LoopbackPorts.claim(port) { return port }
    }
    throw .noLoopbackPort(errno: EADDRINUSE)
}

/// Binds a TCP socket to 127.0.0.1:`port` (0: any), closes it and returns the port it got.
private func bindLoopback(port: Int) throws(LauncherError) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw .noLoopbackPort(errno: errno) }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw .noLoopbackPort(errno: errno) }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    guard named == 0 else { throw .noLoopbackPort(errno: errno) }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The ports this process handed out, and the kernel's ephemeral port range.
private enum LoopbackPorts {
    private final class Given: @unchecked Sendable {
        let lock = NSLock()
        var ports: Set<Int> = []
    }
    private static let given = Given()

    /// Records `port` as handed out; false when it was already.
    static func claim(_ port: Int) -> Bool {
        given.lock.lock(); defer { given.lock.unlock() }
        return given.ports.insert(port).inserted
    }

    /// `/proc/sys/net/ipv4/ip_local_port_range` (Linux's default 32768–60999 when unreadable).
    static func ephemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] <= numbers[1] else { return 32768...60999 }
        return numbers[0]...numbers[1]
    }
}
