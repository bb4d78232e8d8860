import Foundation

/// Sends a heartbeat to every server at a fixed interval from its own thread and transport
/// (ZeroMQ sockets are not shared across threads), so a worker busy in a long forward/backward
/// pass never looks dead to the servers. Replies are drained; a worker judges a server's
/// liveness while it waits for it (`KVClient.wait`).
final class HeartbeatThread: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false

    /// Starts beating as worker `rank` to `servers` every `interval` seconds over `transport`,
    /// which the thread owns from now on; each beat says who the worker is (`beat`).
    init(transport: Transport, servers: [PeerID], beat: Message, interval: Double) {
        let thread = Thread { [self] in
            var next = 0.0
            while !isStopped {
                let now = transport.now()
                if now >= next {
                    // A failed beat is harmless: the next one follows, and a server that stays
                    // unreachable is reported by the worker's wait.
                    for s in servers { try? transport.send(beat, to: s) }
                    next = now + interval
                }
                do {
                    while try transport.receive(deadline: min(next, now + 0.1)) != nil {}
                } catch {
                    return  // a broken socket: stop beating; the servers then report this worker as silent
                }
            }
        }
        thread.name = "heartbeat"
        thread.start()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    /// Stops the thread after its current wait (at most 0.1 s).
    func stop() { lock.lock(); stopped = true; lock.unlock() }
}
