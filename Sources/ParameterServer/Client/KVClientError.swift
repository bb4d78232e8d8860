/// A `KVClient` used in a way it does not support — a bug in the caller, not a cluster failure.
public enum KVClientError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A push or pull of a key that `initialize(keys:)` did not declare.
    case undeclaredKey(Int)
    /// A buffer whose size differs from the key's declared element count.
    case bufferSize(key: Int, count: Int, expected: Int)

    public var description: String {
        switch self {
        case let .undeclaredKey(key):
            return "key \(key) was not declared in initialize(keys:): declare every key before pushing or pulling it"
        case let .bufferSize(key, count, expected):
            return "a buffer of \(count) values was passed for key \(key), which has \(expected): pass the whole array of the key"
        }
    }
}
