// swift-tools-version: 6.2
// Benchmarks: release-build executables that print a table of figures (and a ratio against a
// reference measured in the same run) and write JSON under results/ when given --json.
// Kept apart from the main package so timings never leak into `swift test`.
// Run: cd Benchmarks && swift run -c release KernelBenchmarks
import PackageDescription

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "SSDTrainer", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                "SSDBenchmarkSupport",
                .product(name: "Tensor", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .target(
            name: "SSDBenchmarkSupport",
            dependencies: [
                .product(name: "Detection", package: "SSDTrainer"),
                .product(name: "Tensor", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "InferenceBenchmarks",
            dependencies: [
                "SSDBenchmarkSupport",
                .product(name: "Detection", package: "SSDTrainer"),
                .product(name: "Tensor", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "LoaderBenchmarks",
            dependencies: [
                .product(name: "DetectionData", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "ParameterServerBenchmarks",
            dependencies: [
                .product(name: "ParameterServer", package: "SSDTrainer"),
                .product(name: "Optimizers", package: "SSDTrainer"),
                .product(name: "Tensor", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "ScalingBenchmarks",
            dependencies: [
                .product(name: "Detection", package: "SSDTrainer"),
                .product(name: "Launcher", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "TrainingBenchmarks",
            dependencies: [
                "SSDBenchmarkSupport",
                .product(name: "Detection", package: "SSDTrainer"),
                .product(name: "Optimizers", package: "SSDTrainer"),
                .product(name: "Tensor", package: "SSDTrainer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
    ],
    swiftLanguageModes: [.v5]
)
