import Foundation

/// The measured constants `ssd plan` predicts from (`ssd plan --calibrate` writes them as JSON;
/// the fields are documented in README "Sizing a cluster: `ssd plan`").
public struct PlanCalibration: Codable, Equatable, Sendable {
    /// The format of this file; a reader refuses another.
    public static let formatVersion = 1

    /// The machine the constants were measured on.
    public struct Machine: Codable, Equatable, Sendable {
        public var cores: Int
        /// `model name` of /proc/cpuinfo.
        public var cpu: String
        public var memoryGiB: Double
        /// OpenBLAS's kernel family ("Cooperlake") and build line.
        public var openBLASCore: String
        public var openBLASConfig: String
        /// 1-minute load average when the measurement started and ended (the machine may be shared).
        public var loadAverageAtStart: Double
        public var loadAverageAtEnd: Double
        /// ISO 8601 time of the measurement.
        public var measuredAt: String

        public init(cores: Int, cpu: String, memoryGiB: Double, openBLASCore: String, openBLASConfig: String,
                    loadAverageAtStart: Double, loadAverageAtEnd: Double, measuredAt: String) {
            self.cores = cores; self.cpu = cpu; self.memoryGiB = memoryGiB; self.openBLASCore = openBLASCore
            self.openBLASConfig = openBLASConfig; self.loadAverageAtStart = loadAverageAtStart
            self.loadAverageAtEnd = loadAverageAtEnd; self.measuredAt = measuredAt
        }
    }

    /// One training step (forward + loss + backward, every gradient) of one configuration.
    public struct Compute: Codable, Equatable, Sendable {
        public var network: String
        public var imageShape: Int
        public var batch: Int
        /// OpenBLAS threads (and kernel threads) the step ran with.
        public var threads: Int
        /// Median seconds of the timed steps (after one warm-up step).
        public var stepSeconds: Double
        /// Seconds of the forward pass alone (training mode), same batch.
        public var forwardSeconds: Double
        public var timedSteps: Int

        public init(network: String, imageShape: Int, batch: Int, threads: Int, stepSeconds: Double, forwardSeconds: Double, timedSteps: Int) {
            self.network = network; self.imageShape = imageShape; self.batch = batch; self.threads = threads
            self.stepSeconds = stepSeconds; self.forwardSeconds = forwardSeconds; self.timedSteps = timedSteps
        }

        public var forwardFraction: Double { min(1, max(0, forwardSeconds / max(stepSeconds, 1e-12))) }
    }

    /// A push+pull round through the real server on TCP loopback (one worker, one server,
    /// in-process threads): what a byte costs when nothing leaves the machine.
    public struct Loopback: Codable, Equatable, Sendable {
        /// Floats per round (push and pull each) and the median round seconds.
        public var floatsPerRound: Int
        public var roundSeconds: Double
        /// Bytes moved (push + pull) per second of the round, after the server's modelled CPU
        /// time is subtracted: the throughput `PlanLink.loopback` uses.
        public var bytesPerSecond: Double
        /// CPU seconds (user + system, every thread of the calibrating process: the worker's
        /// copies and hashes, ZeroMQ's I/O threads, the kernel's TCP copies) per byte moved, less
        /// the server's modelled CPU: what moving a byte takes from the cores of a machine that
        /// also computes. Nil in calibrations written before it was measured.
        public var cpuSecondsPerByte: Double?

        public init(floatsPerRound: Int, roundSeconds: Double, bytesPerSecond: Double, cpuSecondsPerByte: Double? = nil) {
            self.floatsPerRound = floatsPerRound; self.roundSeconds = roundSeconds; self.bytesPerSecond = bytesPerSecond
            self.cpuSecondsPerByte = cpuSecondsPerByte
        }

        /// Bytes moved per CPU-second, the rate `PlanPlacement.shared` charges the cores with:
        /// measured where known, else the round's throughput (which assumes one busy core).
        public var copyBytesPerCPUSecond: Double {
            if let c = cpuSecondsPerByte, c > 0 { return 1 / c }
            return bytesPerSecond
        }
    }

    public var formatVersion: Int
    public var machine: Machine
    public var compute: [Compute]
    public var server: ServerCost
    public var loopback: Loopback

    public init(machine: Machine, compute: [Compute], server: ServerCost, loopback: Loopback) {
        formatVersion = Self.formatVersion
        self.machine = machine; self.compute = compute; self.server = server; self.loopback = loopback
    }

    /// The measured step for this configuration with `threads` threads (nil: the most threads measured).
    public func step(network: String, imageShape: Int, batch: Int, threads: Int? = nil) -> Compute? {
        compute.filter { $0.network == network && $0.imageShape == imageShape && $0.batch == batch && (threads == nil || $0.threads == threads) }
            .max { $0.threads < $1.threads }
    }

    /// The step for `batch`: measured, or else the nearest measured batch of this network and
    /// shape scaled linearly (per-image time × batch; `scaledFrom` names the batch measured).
    /// A larger batch usually runs a little faster per image, so a scaled step errs slow.
    public func estimatedStep(network: String, imageShape: Int, batch: Int, threads: Int? = nil) -> (step: Compute, scaledFrom: Int?)? {
        if let exact = step(network: network, imageShape: imageShape, batch: batch, threads: threads) { return (exact, nil) }
        let wantedThreads = threads ?? compute.filter { $0.network == network && $0.imageShape == imageShape }.map(\.threads).max()
        guard let near = compute.filter({ $0.network == network && $0.imageShape == imageShape && $0.threads == wantedThreads })
            .min(by: { abs($0.batch - batch) < abs($1.batch - batch) }) else { return nil }
        var scaled = near
        let factor = Double(batch) / Double(near.batch)
        scaled.batch = batch; scaled.stepSeconds *= factor; scaled.forwardSeconds *= factor
        return (scaled, near.batch)
    }

    /// Adds `entries`, replacing any measured for the same network, shape, batch and threads.
    public mutating func merge(_ entries: [Compute]) {
        for e in entries {
            compute.removeAll { $0.network == e.network && $0.imageShape == e.imageShape && $0.batch == e.batch && $0.threads == e.threads }
            compute.append(e)
        }
        compute.sort { ($0.network, $0.imageShape, $0.batch, $0.threads) < ($1.network, $1.imageShape, $1.batch, $1.threads) }
    }

    /// Reads a calibration file.
    public static func load(path: String) throws -> PlanCalibration {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw PlanError.calibrationUnreadable(path: path, reason: "\(error.localizedDescription)")
        }
        let calibration: PlanCalibration
        do { calibration = try JSONDecoder().decode(PlanCalibration.self, from: data) } catch {
            throw PlanError.calibrationUnreadable(path: path, reason: "not a calibration file: \(error)")
        }
        guard calibration.formatVersion == formatVersion else {
            throw PlanError.calibrationVersion(path: path, found: calibration.formatVersion, expected: formatVersion)
        }
        return calibration
    }

    /// Writes the file atomically (temporary file + rename), keys sorted.
    public func write(path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// What `ssd plan` reports when it cannot predict.
public enum PlanError: Error, CustomStringConvertible, Equatable {
    case calibrationUnreadable(path: String, reason: String)
    case calibrationVersion(path: String, found: Int, expected: Int)
    case notCalibrated(network: String, imageShape: Int, batch: Int, measured: [String])
    case invalidBandwidth(String)
    case invalidCount(name: String, value: Int)
    case measurementFailed(what: String, reason: String)

    public var description: String {
        switch self {
        case .calibrationUnreadable(let path, let reason):
            "cannot read the calibration \(path): \(reason); measure one with `ssd plan --calibrate --calibration \(path)`"
        case .calibrationVersion(let path, let found, let expected):
            "calibration \(path) has format version \(found), this ssd reads \(expected); measure it again with `ssd plan --calibrate`"
        case .notCalibrated(let network, let shape, let batch, let measured):
            "no measured step for \(network) at image_shape \(shape), mini_batch_size \(batch) (measured: \(measured.isEmpty ? "none" : measured.joined(separator: ", "))); "
                + "add it with `ssd plan --calibrate --network \(network) --image-shape \(shape) --mini-batch-size \(batch)`"
        case .invalidBandwidth(let text):
            "bandwidth '\(text)' is not a rate: give a number with a unit, e.g. 10gbit, 25gbit, 100mbit, 1.25gbyte, or 'loopback'"
        case .invalidCount(let name, let value):
            "\(name) must be at least 1, not \(value)"
        case .measurementFailed(let what, let reason):
            "the calibration could not measure \(what): \(reason); run `ssd plan --calibrate` again (another process may hold the port)"
        }
    }
}

/// Link rates as `tc` writes them: `10gbit`, `100mbit`, `1.25gbyte` (bits or bytes per second,
/// SI prefixes k, m, g, t).
public enum LinkRate {
    /// Bytes per second of `text`.
    public static func bytesPerSecond(_ text: String) throws(PlanError) -> Double {
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        let digits = lower.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits), value > 0 else { throw .invalidBandwidth(text) }
        var unit = String(lower.dropFirst(digits.count))
        if unit.hasSuffix("/s") { unit = String(unit.dropLast(2)) }
        if unit.hasSuffix("bps") { unit = unit.dropLast(3) + "bit" }  // gbps → gbit
        let bytes: Double
        if unit.hasSuffix("bit") {
            bytes = 1.0 / 8; unit = String(unit.dropLast(3))
        } else if unit.hasSuffix("byte") {
            bytes = 1; unit = String(unit.dropLast(4))
        } else {
            throw .invalidBandwidth(text)
        }
        let scale: Double
        switch unit {
        case "": scale = 1
        case "k": scale = 1e3
        case "m": scale = 1e6
        case "g": scale = 1e9
        case "t": scale = 1e12
        default: throw .invalidBandwidth(text)
        }
        return value * scale * bytes
    }
}
