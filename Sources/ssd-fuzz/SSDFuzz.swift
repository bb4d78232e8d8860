import ArgumentParser
import Foundation
import FuzzTargets
#if canImport(Glibc)
import Glibc
#endif

/// `ssd-fuzz`: fuzzes one decoder of untrusted bytes (see `FuzzTarget`).
///
/// Built normally it runs the seeded mutation loop. Built by `make fuzz`
/// (`-sanitize=fuzzer,address -DLIBFUZZER`) it is a libFuzzer binary (libFuzzer's flags), with
/// the target named by `SSD_FUZZ_TARGET`.
@main
struct SSDFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssd-fuzz",
        abstract: "Fuzz a decoder (wire, recordio, params, annotation, hyperparameters) with a seeded mutation loop.",
        discussion: """
            Runs the corpus, then --runs mutated inputs. A crash (a trap in a decoder) writes the input to \
            crash-TARGET-SEED.bin before the process dies. `make fuzz` runs the coverage-guided libFuzzer build \
            of the same entry points instead.
            """)

    @Argument(help: "The decoder: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")).") var target: String
    @Option(help: "Mutated inputs after the corpus.") var runs = 1_000_000
    @Option(help: "Seed of the mutation loop.") var seed: UInt64 = 1
    @Option(help: "Corpus folder (default Fuzz/corpus/TARGET).") var corpus: String?
    @Option(help: "Write the target's generated seed inputs into this folder and exit.") var writeSeeds: String?

    func run() throws {
        guard let fuzzTarget = FuzzTarget(rawValue: target) else {
            throw ValidationError("unknown target \(target); one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let writeSeeds {
            try FileManager.default.createDirectory(atPath: writeSeeds, withIntermediateDirectories: true)
            for (i, bytes) in fuzzTarget.generatedSeeds.enumerated() {
                try Data(bytes).write(to: URL(fileURLWithPath: writeSeeds).appendingPathComponent(String(format: "seed-%02d", i)))
            }
            print("ssd-fuzz: wrote \(fuzzTarget.generatedSeeds.count) seeds to \(writeSeeds)")
            return
        }
        let seeds = FuzzTarget.loadCorpus(corpus ?? "Fuzz/corpus/\(target)")
        CrashReport.install(path: "crash-\(target)-\(seed).bin")
        var loop = MutationLoop(target: fuzzTarget, seeds: seeds, seed: seed)
        let start = Date()
        loop.run(count: runs) { CrashReport.remember($0) }
        print(String(format: "ssd-fuzz %@: %d corpus inputs + %d mutants (seed %llu), 0 crashes, %.1f s",
                     target, seeds.count, runs, seed, Date().timeIntervalSince(start)))
    }

    #if LIBFUZZER
    /// libFuzzer build: the command line is libFuzzer's, the target comes from SSD_FUZZ_TARGET.
    static func main() {
        guard let name = ProcessInfo.processInfo.environment["SSD_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(Data("ssd-fuzz: set SSD_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
            Glibc.exit(2)
        }
        LibFuzzer.target = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        Glibc.exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
    }
    #endif
}

#if LIBFUZZER
/// libFuzzer's driver (compiler-rt `FuzzerInterface.h`): parses libFuzzer's flags and calls
/// `callback` for every input. SwiftPM gives this executable its own `main`, so libFuzzer's
/// `main` never runs and `SSDFuzz.main` starts the driver instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The target the C callback runs: a C function pointer has no context, so it is set once,
/// before the driver starts.
enum LibFuzzer {
    nonisolated(unsafe) static var target: FuzzTarget = .wire
}

/// The input callback; also exported under libFuzzer's name, which its (unused) `main` references.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    LibFuzzer.target.run(size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#endif

/// Writes the input that was running when the process dies of a trap or a fault. A signal
/// handler cannot capture context, so the input and file name live in preallocated storage
/// that `remember` fills before each run; the handler only calls write(2) and re-raises.
enum CrashReport {
    nonisolated(unsafe) static var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 17)
    nonisolated(unsafe) static var length = 0
    nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>?

    static func install(path: String) {
        Self.path = strdup(path)
        for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            signal(sig) { sig in
                if let path = CrashReport.path {
                    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                    if fd >= 0 { _ = write(fd, CrashReport.buffer, CrashReport.length); close(fd) }
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }

    static func remember(_ input: [UInt8]) {
        length = min(input.count, 1 << 17)
        input.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: length) }
    }
}
