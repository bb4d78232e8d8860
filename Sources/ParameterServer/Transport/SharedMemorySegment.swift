// Shared memory between two processes of one user on one host, for payloads the ZeroMQ
// transport would otherwise copy through the kernel twice (`SharedMemoryRing`,
// `SharedMemoryLink`). Linux only (`/proc/<pid>/fd`); elsewhere no segment can be made and the
// transport keeps every payload on its socket.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A shared-memory segment for payloads: a POSIX shared-memory object of mode 0600 whose name
/// is unlinked the moment it is created, so nothing is left in /dev/shm even when every process
/// using it is killed (the kernel frees the memory with the last mapping). A peer reaches it
/// through the creator's descriptor, `/proc/<pid>/fd/<fd>` — which only the same user may open —
/// and checks the random token in its first bytes against the one the creator sent over the
/// ZeroMQ channel: finding it proves both ends share this host's memory.
final class SharedMemorySegment: @unchecked Sendable {
    /// Bytes before the first block: magic, token, size.
    static let headerBytes = 64
    static let magic: UInt64 = 0x3153_4D48_5350_5350  // "PSPSHMS1" in memory order

    /// What a peer needs to open the segment, sent in the ZeroMQ channel's handshake.
    struct Address: Codable, Equatable, Sendable {
        var pid: Int32
        var descriptor: Int32
        var bytes: Int
        /// Two random 64-bit words, as 32 hex digits.
        var token: String
        /// This host's boot id (`/proc/sys/kernel/random/boot_id`): a quick first test of "same host".
        var bootID: String
    }

    let base: UnsafeMutableRawPointer
    let size: Int
    let address: Address
    /// The creator keeps its descriptor open (peers open the segment through it); -1 in a peer.
    private let descriptor: Int32

    private init(base: UnsafeMutableRawPointer, size: Int, address: Address, descriptor: Int32) {
        self.base = base; self.size = size; self.address = address; self.descriptor = descriptor
    }

    deinit {
        munmap(base, size)
        if descriptor >= 0 { close(descriptor) }
    }

    /// This host's boot id, nil where the kernel does not say (then no segment is offered).
    static let bootID: String? = {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.isEmpty ? nil : id
    }()

    /// A new segment of `bytes` (rounded up to whole pages), mapped, every page reserved in
    /// /dev/shm (refused when it has no room for them).
    static func create(bytes: Int) throws(SharedMemoryError) -> SharedMemorySegment {
        guard let bootID else { throw .unavailable("this system has no /proc/sys/kernel/random/boot_id") }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = (max(bytes, headerBytes + page) + page - 1) / page * page
        var random = SystemRandomNumberGenerator()
        let words: (UInt64, UInt64) = (random.next(), random.next())
        let name = "/ssd-ps-\(getpid())-\(String(words.0, radix: 16))"
        let fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .create(reason: String(cString: strerror(errno))) }
        shm_unlink(name)
        guard ftruncate(fd, off_t(size)) == 0 else {
            let reason = String(cString: strerror(errno)); close(fd)
            throw .create(reason: "cannot size it to \(size) bytes: \(reason)")
        }
        // tmpfs allocates a page at its first write, and a write past the file system's size
        // (a container's /dev/shm is 64 MiB by default) kills the process with SIGBUS: reserve
        // every page now, or refuse and keep the payloads on the socket.
        if let free = freeBytes(of: fd), free < size {
            close(fd)
            throw .create(reason: "/dev/shm has \(free) bytes free, \(size) needed (a container's: docker run --shm-size)")
        }
        let reserved = posix_fallocate(fd, 0, off_t(size))
        guard reserved == 0 else {
            close(fd)
            throw .create(reason: "cannot reserve \(size) bytes in /dev/shm: \(String(cString: strerror(reserved))) (a container's: docker run --shm-size)")
        }
        guard let base = map(fd, size: size) else {
            let reason = String(cString: strerror(errno)); close(fd)
            throw .create(reason: "mmap of \(size) bytes failed: \(reason)")
        }
        base.storeBytes(of: magic, toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: words.0, toByteOffset: 8, as: UInt64.self)
        base.storeBytes(of: words.1, toByteOffset: 16, as: UInt64.self)
        base.storeBytes(of: UInt64(size), toByteOffset: 24, as: UInt64.self)
        let address = Address(pid: getpid(), descriptor: fd, bytes: size, token: hex(words.0, words.1), bootID: bootID)
        return SharedMemorySegment(base: base, size: size, address: address, descriptor: fd)
    }

    /// Maps the segment a peer advertised. Fails — and the caller keeps using the socket — unless
    /// the peer runs on this host (boot id), as this user (the `/proc` descriptor opens, the
    /// object's owner and mode), and the memory found holds the advertised size and token.
    static func open(_ address: Address) throws(SharedMemoryError) -> SharedMemorySegment {
        guard let bootID, address.bootID == bootID else { throw .notThisHost }
        let path = "/proc/\(address.pid)/fd/\(address.descriptor)"
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .notReachable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == getuid(), info.st_mode & 0o077 == 0,
              Int(info.st_size) == address.bytes, address.bytes > headerBytes else {
            throw .notTheOffered(path: path, reason: "not a private (0600) shared-memory object of \(address.bytes) bytes owned by this user")
        }
        guard let base = map(fd, size: address.bytes) else {
            throw .notReachable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let found = hex(base.load(fromByteOffset: 8, as: UInt64.self), base.load(fromByteOffset: 16, as: UInt64.self))
        guard base.load(as: UInt64.self) == magic, found == address.token,
              base.load(fromByteOffset: 24, as: UInt64.self) == UInt64(address.bytes) else {
            munmap(base, address.bytes)
            throw .notTheOffered(path: path, reason: "its token differs from the one offered")
        }
        return SharedMemorySegment(base: base, size: address.bytes, address: address, descriptor: -1)
    }

    /// Bytes an unprivileged user may still allocate on the file system holding `fd`.
    private static func freeBytes(of fd: Int32) -> Int? {
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { return nil }
        let (free, overflow) = Int(info.f_bavail).multipliedReportingOverflow(by: Int(info.f_frsize))
        return overflow ? Int.max : free
    }

    private static func map(_ fd: Int32, size: Int) -> UnsafeMutableRawPointer? {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { return nil }
        return p
    }

    private static func hex(_ a: UInt64, _ b: UInt64) -> String {
        func pad(_ x: UInt64) -> String { let s = String(x, radix: 16); return String(repeating: "0", count: 16 - s.count) + s }
        return pad(a) + pad(b)
    }
}

/// Why a shared-memory segment could not be made or reached. Never fatal: the transport then
/// sends the payloads on its socket, as between hosts.
enum SharedMemoryError: Error, CustomStringConvertible, Equatable {
    case unavailable(String)
    case create(reason: String)
    case notThisHost
    case notReachable(path: String, reason: String)
    case notTheOffered(path: String, reason: String)

    var description: String {
        switch self {
        case .unavailable(let why): return "shared memory is unavailable: \(why)"
        case .create(let reason): return "cannot create a shared-memory segment: \(reason); payloads go over the socket"
        case .notThisHost: return "the peer runs on another host (its boot id differs); payloads go over the socket"
        case let .notReachable(path, reason): return "cannot open the peer's segment \(path): \(reason) (another host, PID namespace or user?)"
        case let .notTheOffered(path, reason): return "\(path) is not the segment the peer offered: \(reason)"
        }
    }
}
