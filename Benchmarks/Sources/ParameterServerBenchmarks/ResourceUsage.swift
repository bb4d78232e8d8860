// CPU time and page faults of this process (every thread: workers, servers, ZeroMQ's I/O
// threads) over a measured stretch of rounds.
import Glibc

struct ResourceUsage {
    var userSeconds: Double
    var systemSeconds: Double
    var minorFaults: Int

    /// This process so far (getrusage).
    static func now() -> ResourceUsage {
        var u = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &u) == 0 else { return ResourceUsage(userSeconds: .nan, systemSeconds: .nan, minorFaults: 0) }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return ResourceUsage(userSeconds: seconds(u.ru_utime), systemSeconds: seconds(u.ru_stime), minorFaults: u.ru_minflt)
    }

    /// What was used between `earlier` and `self`.
    func since(_ earlier: ResourceUsage) -> ResourceUsage {
        ResourceUsage(userSeconds: userSeconds - earlier.userSeconds, systemSeconds: systemSeconds - earlier.systemSeconds,
                      minorFaults: minorFaults - earlier.minorFaults)
    }
}
