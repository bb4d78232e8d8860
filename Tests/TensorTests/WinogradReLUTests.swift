import Foundation
@testable import Tensor
import TestSupport
import Testing

/// Winograd layers with activation `.relu` rectify in the output transform (F(2×2)'s and
/// F(4×4)'s, eight-tile and edge paths, batch and images-on-threads paths): bit for bit the
/// unrectified forward followed by `ReLU.forward`, since the sum and the bias are added in the
/// same order either way.
@Suite("Conv2D: Winograd forward with ReLU in the output transform")
struct WinogradReLUTests {
    struct Case: CustomStringConvertible, Sendable {
        var algorithm: Winograd.Algorithm
        var geometry: Conv2D.Geometry
        var description: String { "\(algorithm) \(geometry)" }
    }

    /// Maps with whole and partial eight-tile groups and cut edge tiles (F(4×4) needs 37 columns).
    static let cases: [Case] = [
        Case(algorithm: .f2x2, geometry: .init(batch: 1, inChannels: 4, height: 6, width: 7, outChannels: 5, kernel: 3, pad: 1)),
        Case(algorithm: .f2x2, geometry: .init(batch: 2, inChannels: 3, height: 9, width: 21, outChannels: 5, kernel: 3, pad: 1)),
        Case(algorithm: .f4x4, geometry: .init(batch: 2, inChannels: 3, height: 10, width: 41, outChannels: 4, kernel: 3, pad: 1)),
        Case(algorithm: .f4x4, geometry: .init(batch: 3, inChannels: 5, height: 37, width: 37, outChannels: 3, kernel: 3, pad: 1)),
    ]

    static func workspace(_ algorithm: Winograd.Algorithm, imagesOnThreads: Bool) -> Conv2D.Workspace {
        let workspace = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                         winograd4x4MinimumChannels: algorithm == .f4x4 ? 1 : nil,
                                         winograd4x4WeightGradientMinimumChannels: nil)
        if imagesOnThreads { workspace.winogradImagesInParallelMinimumThreads = 2 }
        return workspace
    }

    @Test("activation .relu equals the Winograd forward then ReLU.forward, bit for bit", arguments: cases)
    func fusedEqualsSeparate(_ c: Case) throws {
        let g = c.geometry
        let x = randomValues(g.inputShape.reduce(1, *), seed: 51), w = randomValues(g.weightShape.reduce(1, *), seed: 52)
        let b = randomValues(g.outChannels, seed: 53)
        let threadings: [(String, Threading, Bool)] = [
            ("serial", .serial, false),
            ("OpenBLAS-threaded", Threading(threads: 2), false),
            ("own threads ×2", Threading(threads: 2, gemmsOnOwnThreads: true), false),
            ("images on 2 threads", Threading(threads: 2, gemmsOnOwnThreads: true), true),
        ]
        for bias in [b, nil] {
            for (name, threading, images) in threadings {
                let workspace = Self.workspace(c.algorithm, imagesOnThreads: images)
                #expect(workspace.winogradAlgorithm(g) == c.algorithm, "\(c): the layer runs \(c.algorithm)")
                var separate = try convolveForward(g, x, w, bias, .identity, threading, workspace: workspace)
                try separate.withUnsafeMutableBufferPointer { y in try ReLU.forward(input: UnsafeBufferPointer(y), output: y) }
                let fused = try convolveForward(g, x, w, bias, .relu, threading, workspace: workspace)
                #expect(fused.contains { $0 == 0 } && fused.contains { $0 > 0 }, "\(c): both signs present")
                #expect(fused.map(\.bitPattern) == separate.map(\.bitPattern), "\(c) \(name), bias \(bias != nil)")
            }
        }
    }

    @Test("ReLU.rectified is the scalar max(x, 0) lane by lane: −0 → +0, NaN stays NaN")
    func rectifiedMatchesScalarMax() {
        let v = SIMD4<Float>(-0.0, .nan, -1.5, 2.25)
        let r = ReLU.rectified(v)
        for i in 0..<4 {
            let scalar = max(v[i], 0)
            #expect(r[i].bitPattern == scalar.bitPattern || (r[i].isNaN && scalar.isNaN), "lane \(i): \(r[i]) vs \(scalar)")
        }
        #expect(r[0].bitPattern == Float(0).bitPattern && r[1].isNaN)
    }
}
