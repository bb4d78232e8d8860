/// A message to send: the reply or notification `message` for `peer`.
public struct Outgoing: Sendable {
    public var peer: PeerID
    public var message: Message

    public init(peer: PeerID, message: Message) { self.peer = peer; self.message = message }
}
