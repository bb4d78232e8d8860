/// What a message asks for. Values are part of the wire format: never renumber. A reply
/// carries the command of the request it answers (with the reply flag, and the error flag
/// when the request failed), so replies need no commands of their own.
public enum Command: UInt8, CaseIterable, Sendable {
    /// Worker/server → scheduler: join the cluster (payload: JSON `Registration`).
    /// Reply: the roster (payload: JSON `Roster`).
    case register = 1
    /// Worker → server: initial value of a key slice (payload: floats). Rank 0's value wins.
    case initialize = 2
    /// Worker → server: a gradient of a key slice for a round (payload: floats).
    case push = 3
    /// Worker → server: ask for the key slice's weights after a round. Reply: floats.
    case pull = 4
    /// Worker → server: push, then reply with the weights once the round is applied.
    case pushPull = 5
    /// Worker → server 0: wait until every worker has arrived.
    case barrier = 6
    /// Any → scheduler/server: still alive.
    case heartbeat = 7
    /// Worker 0 → server: orderly stop of the server.
    case shutdown = 8
    /// A failure tied to no request the receiver can name: the job failed (a server tells every
    /// worker), or a frame could not be decoded. Payload: UTF-8 text. (A failed request is
    /// answered with the request's own command and the error flag instead.)
    case error = 9
    /// Worker 0 → server: the optimizer and key layout (payload: JSON `ServerSetup`).
    case configure = 10
    // 11 was `acknowledge` in protocol version 1; version 2 replies echo the request's command.
    /// Worker 0 → server: send a key slice's state for a checkpoint. Reply: its weights, then each
    /// optimizer slot (floats); the reply's `round` is the slice's optimizer update count.
    case fetchState = 12
    /// Worker 0 → server, before the first push of a resumed job: a key slice's optimizer slots
    /// (floats, one after another); `round` is its update count. Reply: empty.
    case restoreState = 13
}
