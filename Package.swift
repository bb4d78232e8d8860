// swift-tools-version: 6.2
// A distributed SSD object-detection trainer: the SageMaker Object Detection algorithm
// (MXNet SSD, VGG16-reduced / ResNet-50 bases) rebuilt as native Swift.
// Dependencies point down only: executables → Training → {Detection, DetectionData,
// ParameterServer} → {Tensor, Optimizers} → system libraries.
import PackageDescription


let package = Package(
    name: "SSDTrainer",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Optimizers", targets: ["Optimizers"]),
        .library(name: "Detection", targets: ["Detection"]),
        .library(name: "DetectionData", targets: ["DetectionData"]),
        .library(name: "ParameterServer", targets: ["ParameterServer"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Serving", targets: ["Serving"]),
        .library(name: "MetricsHTTP", targets: ["MetricsHTTP"]),
        .library(name: "ClusterMetrics", targets: ["ClusterMetrics"]),
        .library(name: "Launcher", targets: ["Launcher"]),
        .executable(name: "param-server", targets: ["param-server"]),
        .executable(name: "worker", targets: ["worker"]),
        .executable(name: "ssd", targets: ["ssd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // FilePath for swift-subprocess's executable paths (already one of its dependencies).
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // `ssd serve`: the HTTP server (default traits off: no swift-configuration) and /metrics.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // System libraries
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(
            name: "CImageCodecs", pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev", "libpng-dev"])]),
        .systemLibrary(
            name: "CFreeType", pkgConfig: "freetype2",
            providers: [.apt(["libfreetype-dev"])]),

        // Libraries
        .target(name: "Tensor", dependencies: ["CBLAS"]),
        .target(name: "Optimizers"),
        .target(name: "Detection", dependencies: ["Tensor"]),
        .target(name: "DetectionData", dependencies: ["Tensor", "CImageCodecs", "CFreeType"]),
        .target(
            name: "ParameterServer",
            dependencies: ["Optimizers", "CZeroMQ", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "Training",
            dependencies: [
                "Detection", "DetectionData", "ParameterServer", "Optimizers", "Tensor",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The HTTP layer of `ssd serve` and of the metrics ports: a Hummingbird endpoint with a
        // deadline on start and stop, and `GET /metrics` of a Prometheus registry.
        .target(
            name: "MetricsHTTP",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "Serving",
            dependencies: [
                "Detection", "DetectionData", "MetricsHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The Prometheus metrics of `param-server` and `worker`: the observers of ParameterServer
        // and Training (which know nothing of Prometheus or HTTP) and their metrics port.
        .target(
            name: "ClusterMetrics",
            dependencies: [
                "MetricsHTTP", "ParameterServer", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Starts and supervises processes (ssd train's local cluster, tests, benchmarks).
        .target(
            name: "Launcher",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),

        // Executables
        .executableTarget(
            name: "param-server",
            dependencies: [
                "ParameterServer", "ClusterMetrics", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "worker",
            dependencies: [
                "Training", "ClusterMetrics", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "ssd",
            dependencies: [
                "Training", "Detection", "DetectionData", "ParameterServer", "Optimizers", "Launcher", "Serving",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Test support
        .target(name: "TestSupport", dependencies: ["Tensor", "Launcher"], path: "Sources/TestSupport"),

        // Fuzzing: one entry point per decoder of untrusted bytes, a seeded mutation loop, and
        // `ssd-fuzz` (the loop, or libFuzzer when built by `make fuzz` with -DLIBFUZZER).
        .target(name: "FuzzTargets", dependencies: ["ParameterServer", "DetectionData", "Detection", "Training", "Tensor"]),
        .executableTarget(
            name: "ssd-fuzz",
            dependencies: ["FuzzTargets", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Tests
        .testTarget(
            name: "TensorTests", dependencies: ["Tensor", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "OptimizersTests", dependencies: ["Optimizers", "ParameterServer", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "DetectionTests", dependencies: ["Detection", "Tensor", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "DetectionDataTests", dependencies: ["DetectionData", "Tensor", "TestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ParameterServerTests", dependencies: ["ParameterServer", "Optimizers", "Launcher", "TestSupport"]),
        .testTarget(name: "LauncherTests", dependencies: ["Launcher"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: [
                "Training", "Detection", "ParameterServer", "Launcher", "TestSupport",
                .product(name: "Logging", package: "swift-log"),  // ProgressLog's lines, captured by LogFormatTests
                .product(name: "Yams", package: "Yams"),
            ]),
        .testTarget(
            name: "MetricsHTTPTests",
            dependencies: [
                "MetricsHTTP", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "ClusterMetricsTests",
            dependencies: [
                "ClusterMetrics", "MetricsHTTP", "ParameterServer", "Optimizers", "Launcher", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .testTarget(
            name: "ServingTests", dependencies: ["Serving", "Detection", "DetectionData", "TestSupport"]),
    ],
    // Kernels and the prefetching loader share raw buffers across threads on purpose; the
    // Swift 5 language mode keeps strict-concurrency findings as warnings for those places.
    swiftLanguageModes: [.v5]
)
