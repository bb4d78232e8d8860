/// What a message asks for. Values are part of the wire format: never renumber.
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
    /// Any → scheduler (or server): wait until every member has arrived.
    case barrier = 6
    /// Any → scheduler/server: still alive.
    case heartbeat = 7
    /// Orderly stop of the receiving process.
    case shutdown = 8
    /// Reply: the request failed (payload: UTF-8 message).
    case error = 9
    /// Worker 0 → server: the optimizer and key layout (payload: JSON `ServerSetup`).
    case configure = 10
    /// Reply: the request succeeded and carries no data.
    case acknowledge = 11
}
