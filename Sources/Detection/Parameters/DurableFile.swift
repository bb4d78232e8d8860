import Foundation

/// Files written so that a crash, a kill or a full disk leaves either the old file or the new
/// one under the name, never half of one: the bytes go to a temporary file in the same
/// directory, which is fsynced and renamed over the name, and the directory is fsynced so
/// the rename itself survives a power cut.
public enum DurableFile {
    /// A write that did not complete; the file at `path` is as it was before.
    public struct WriteError: Error, CustomStringConvertible, Equatable {
        public var path: String
        /// The system call that failed (`open`, `write`, `fsync`, `rename`).
        public var operation: String
        public var errno: Int32

        public init(path: String, operation: String, errno: Int32) { self.path = path; self.operation = operation; self.errno = errno }

        public var description: String {
            let reason = String(cString: strerror(errno))
            let hint = errno == ENOSPC || errno == EDQUOT
                ? "free space on that disk or point --model-dir at another one"
                : "check that the directory exists and is writable"
            return "could not write \(path) (\(operation): \(reason)); the previous file under that name, if any, is unchanged — \(hint)"
        }
    }

    /// Replaces `path` with `bytes` atomically and durably.
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws(WriteError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(getpid()).partial"
        func fail(_ operation: String, _ code: Int32 = errno) -> WriteError { WriteError(path: path, operation: operation, errno: code) }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw fail("open") }
        var failure: WriteError?
        var written = 0
        while written < bytes.count, failure == nil {
            let n = Foundation.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n > 0 { written += n } else if n < 0 && errno == EINTR { continue } else { failure = fail("write", n == 0 ? EIO : errno) }
        }
        if failure == nil, fsync(fd) != 0 { failure = fail("fsync") }
        if close(fd) != 0, failure == nil { failure = fail("close") }
        if failure == nil, rename(temporary, path) != 0 { failure = fail("rename") }
        if let failure {
            unlink(temporary)
            throw failure
        }
        try syncDirectory(of: path)
    }

    /// Replaces `path` with `data` atomically and durably.
    public static func write(_ data: Data, to path: String) throws {
        try data.withUnsafeBytes { try write($0, to: path) }
    }

    /// Flushes the directory entry of `path` (after a rename or a file's creation).
    public static func syncDirectory(of path: String) throws(WriteError) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw WriteError(path: path, operation: "open directory", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw WriteError(path: path, operation: "fsync directory", errno: errno) }
    }
}
