import Foundation

/// How many times longer than written a test's deadlines are: `SSD_TEST_DEADLINE_SCALE`, a
/// number from 1 to 20 (default 1). `make sanitize` sets it for the ThreadSanitizer run, whose
/// processes run 5–15× slower; every wait keeps a deadline, only a longer one. A value that
/// is not such a number is reported on standard error and 1 is used.
public let deadlineScale: Double = {
    guard let text = ProcessInfo.processInfo.environment["SSD_TEST_DEADLINE_SCALE"] else { return 1 }
    guard let scale = Double(text), (1...20).contains(scale) else {
        FileHandle.standardError.write(Data("SSD_TEST_DEADLINE_SCALE=\(text) is not a number from 1 to 20; deadlines are not scaled\n".utf8))
        return 1
    }
    return scale
}()

/// `seconds` × `deadlineScale`: a test's deadline for a wait on real processes.
public func scaledDeadline(_ seconds: Double) -> Double { seconds * deadlineScale }

/// `duration` × `deadlineScale`.
public func scaledDeadline(_ duration: Duration) -> Duration { duration * deadlineScale }
