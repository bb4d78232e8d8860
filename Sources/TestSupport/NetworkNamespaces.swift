import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether this process can make network namespaces (root and iproute2's `ip netns`, tried once
/// by adding and deleting one): tests of `deploy/netns.sh` run only then and are reported as
/// skipped otherwise.
public let networkNamespacesAvailable: Bool = {
    guard getuid() == 0,
          let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(where: FileManager.default.isExecutableFile(atPath:))
    else { return false }
    func succeeds(_ arguments: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ip)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return false }
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); return false }
        return p.terminationStatus == 0
    }
    let name = "ssd-probe-\(getpid())"
    guard succeeds(["netns", "add", name]) else { return false }
    _ = succeeds(["netns", "del", name])
    return true
}()

