/// A worker's outstanding requests by request id. A reply is matched by the id it echoes and
/// must come from the server asked, with the same command, key and slice — nothing is guessed.
struct PendingRequests {
    struct Request {
        var server: Int
        var header: MessageHeader
        /// Where the reply's weights go (nil for requests answered without data).
        var destination: UnsafeMutableBufferPointer<Float>?
        var sentAt: Double
        /// Takes the whole reply instead (a reply with more than weights, e.g. `fetchState`).
        var onReply: ((Message) throws -> Void)?
    }

    private var byID: [UInt32: Request] = [:]
    private var nextID: UInt32 = 1

    var isEmpty: Bool { byID.isEmpty }
    var count: Int { byID.count }

    /// Servers with at least one outstanding request.
    var servers: Set<Int> { Set(byID.values.map(\.server)) }

    /// The request outstanding longest.
    var oldest: Request? { byID.values.min { $0.sentAt < $1.sentAt } }

    /// Gives `header` a fresh request id and records it as waiting for a reply from `server`.
    mutating func add(_ header: inout MessageHeader, server: Int, destination: UnsafeMutableBufferPointer<Float>?, now: Double,
                      onReply: ((Message) throws -> Void)? = nil) {
        header.requestID = nextID
        nextID = nextID == UInt32.max ? 1 : nextID + 1
        byID[header.requestID] = Request(server: server, header: header, destination: destination, sentAt: now, onReply: onReply)
    }

    /// Removes and returns the request `reply` answers, or nil when it answers none of them.
    mutating func match(_ reply: MessageHeader, from server: Int) -> Request? {
        guard reply.isReply, let r = byID[reply.requestID], r.server == server, r.header.command == reply.command,
              r.header.key == reply.key, r.header.slice == reply.slice else { return nil }
        byID[reply.requestID] = nil
        return r
    }
}

extension MessageHeader {
    /// A request as a person reads it, e.g. `pushPull of key 3 slice 0/2 (round 5, request 17)`.
    var requestDescription: String {
        switch command {
        case .initialize, .push, .pull, .pushPull:
            return "\(command) of key \(key) slice \(slice)/\(sliceCount) (round \(round), request \(requestID))"
        case .fetchState, .restoreState:
            return "\(command) of key \(key) slice \(slice)/\(sliceCount) (request \(requestID))"
        case .barrier:
            return "barrier \(round) (request \(requestID))"
        default:
            return "\(command) (request \(requestID))"
        }
    }
}
