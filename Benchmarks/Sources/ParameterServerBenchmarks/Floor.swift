// The floor under a parameter-server round on this machine: how fast memory copies the bytes
// a round must touch, and how fast loopback TCP carries the same frames (plain sockets, one
// sender thread and one receiver thread, no ZeroMQ, no checksum).
import Foundation
import Glibc
import ParameterServer

/// The 1-, 5- and 15-minute load average's first figure (the machine is shared).
func loadAverage() -> Double {
    var l = [Double](repeating: 0, count: 3)
    return getloadavg(&l, 3) > 0 ? l[0] : .nan
}

/// Everything `--json` writes.
struct Results: Codable {
    var cores: Int
    var loadAverage: Double
    var floor: Floor?
    var rows: [Row]
}

struct Floor: Codable {
    /// Bytes of one push (all arrays).
    var pushBytes: Int
    /// memcpy of one push: bytes read plus bytes written per second, best of 3.
    var memoryGigabytesPerSecond: Double
    /// Loopback TCP carrying the arrays as frames of their own sizes, best of 3 passes.
    var tcpGigabytesPerSecond: Double

    /// Measures both on `frameSizes` (bytes of each array).
    static func measure(frameSizes: [Int], workers: Int) throws -> Floor {
        let total = frameSizes.reduce(0, +)
        let source = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        let destination = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        defer { source.deallocate(); destination.deallocate() }
        memset(source, 1, total); memset(destination, 2, total)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = MonotonicClock.now()
            memcpy(destination, source, total)
            best = min(best, MonotonicClock.now() - start)
        }
        let memory = 2 * Double(total) / best / 1e9
        let tcp = try loopbackTCP(frameSizes: frameSizes, source: source)
        let f = Floor(pushBytes: total, memoryGigabytesPerSecond: memory, tcpGigabytesPerSecond: tcp)
        print(String(format: "floor: memory %.1f GB/s (memcpy of one %.0f MB push, read + write), loopback TCP %.2f GB/s "
                     + "(the %d arrays as frames of their own sizes)", memory, Double(total) / 1e6, tcp, frameSizes.count))
        return f
    }

    /// Seconds a round of `workers` cannot go below: TCP carries every push and every reply
    /// (2·W·B), and memory must at least move the workers' reads of their gradients and writes
    /// of the new weights (2·W·B), the server's read of every push (W·B) and the momentum SGD
    /// update (read the sum, read and write weights and momentum: 5·B).
    func boundSeconds(workers: Int) -> (tcp: Double, memory: Double) {
        let b = Double(pushBytes), w = Double(workers)
        return (2 * w * b / (tcpGigabytesPerSecond * 1e9), (3 * w + 5) * b / (memoryGigabytesPerSecond * 1e9))
    }

    func printBound(workers: Int, measured: Double) {
        let (tcp, memory) = boundSeconds(workers: workers)
        print(String(format: "  floor with %d workers: TCP %.0f ms + memory %.0f ms per round → at most %.2f rounds/s "
                     + "(TCP alone %.2f); measured %.2f = %.0f %% of the floor", workers, 1000 * tcp, 1000 * memory,
                     1 / (tcp + memory), 1 / tcp, measured, 100 * measured * (tcp + memory)))
    }

    /// Bytes per second over one loopback TCP connection, best of 3 passes over the frames.
    private static func loopbackTCP(frameSizes: [Int], source: UnsafeMutableRawPointer) throws -> Double {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw FloorError.socket("socket") }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, listen(listener, 1) == 0 else { throw FloorError.socket("bind/listen") }
        let passes = 3
        let total = frameSizes.reduce(0, +)
        let done = DispatchSemaphore(value: 0)
        let largest = frameSizes.max() ?? 1
        Thread.detachNewThread {
            let connection = accept(listener, nil, nil)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: largest, alignment: 64)
            // Each frame is read whole into a buffer of its size, as a receiver of that frame would.
            for _ in 0..<passes {
                for size in frameSizes {
                    var got = 0
                    while got < size {
                        let n = recv(connection, buffer + got, size - got, 0)
                        if n <= 0 { break }
                        got += n
                    }
                }
                done.signal()
            }
            buffer.deallocate()
            close(connection)
        }
        let sender = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(sender) }
        let connected = withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sender, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw FloorError.socket("connect") }
        var best = Double.infinity
        for _ in 0..<passes {
            let start = MonotonicClock.now()
            var offset = 0
            for size in frameSizes {
                var sent = 0
                while sent < size {
                    let n = send(sender, source + offset + sent, size - sent, 0)
                    guard n > 0 else { throw FloorError.socket("send") }
                    sent += n
                }
                offset += size
            }
            done.wait()
            best = min(best, MonotonicClock.now() - start)
        }
        return Double(total) / best / 1e9
    }
}

enum FloorError: Error, CustomStringConvertible {
    case socket(String)
    var description: String {
        switch self { case .socket(let what): return "loopback TCP measurement failed at \(what): \(String(cString: strerror(errno)))" }
    }
}
