#if canImport(Glibc)
import Glibc
#endif

/// How the C heap treats the large activation and gradient buffers of a training step.
///
/// glibc serves every block above 32 MiB with its own `mmap` and returns it with `munmap` when
/// freed, so each step would fault in (and the kernel zero) the same gigabytes again. Kept in
/// the heap instead, freed blocks are reused by the next step with no page faults.
public enum HeapPolicy {
    /// Serves large blocks from the heap and never returns freed memory to the system (the
    /// process's footprint stays at its peak, which a training process reaches every step
    /// anyway). Returns false where the C library has no `mallopt`.
    ///
    /// With `oneArena`, every thread allocates from that one heap too (`M_ARENA_MAX` 1): a
    /// thread's own arena lives in 64 MiB sub-heaps that glibc unmaps as soon as one is empty,
    /// whatever the settings above — which is what happens to the messages ZeroMQ's I/O thread
    /// allocates for a parameter server's pushes and replies once another thread frees them, so
    /// each would be faulted in again. Call it before other threads start allocating.
    @discardableResult
    public static func keepFreedMemoryForReuse(oneArena: Bool = false) -> Bool {
        #if canImport(Glibc)
        // mallopt is in <malloc.h>, which the Glibc module does not export; glibc's values:
        let trimThreshold: Int32 = -1, mmapMax: Int32 = -4   // M_TRIM_THRESHOLD, M_MMAP_MAX
        let arenaMax: Int32 = -8                              // M_ARENA_MAX
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        return mallopt(mmapMax, 0) == 1 && mallopt(trimThreshold, Int32.max) == 1 && (!oneArena || mallopt(arenaMax, 1) == 1)
        #else
        return false
        #endif
    }
}
