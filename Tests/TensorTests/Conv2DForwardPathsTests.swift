import Foundation
import Tensor
import TestSupport
import Testing

/// The forward im2col path's ways of running one convolution — OpenBLAS-threaded, images on
/// the threads, output pixels on the threads (fewer images than threads) — and its fused
/// bias + ReLU output pass, each against the plain serial forward (Winograd layers' ReLU in the
/// output transform: WinogradReLUTests).
@Suite("Conv2D forward paths")
struct Conv2DForwardPathsTests {
    static let threadings: [(String, Threading)] = [
        ("OpenBLAS-threaded", Threading(threads: 2)),
        ("own threads ×2", Threading(threads: 2, gemmsOnOwnThreads: true)),
        ("own threads ×3", Threading(threads: 3, gemmsOnOwnThreads: true)),
    ]

    /// Batch 1 (pixels split over the threads), batch 2 (images on 2 threads, pixels on 3) and
    /// batch 3 (two images on 2 threads, then the third's pixels; images on 3).
    static let geometries: [Conv2D.Geometry] = [
        .init(batch: 1, inChannels: 3, height: 13, width: 11, outChannels: 5, kernel: 3, stride: 1, pad: 1),
        .init(batch: 3, inChannels: 4, height: 9, width: 9, outChannels: 6, kernel: 3, stride: 2, pad: 1),
        .init(batch: 1, inChannels: 3, height: 12, width: 12, outChannels: 4, kernel: 3, stride: 1, pad: 6, dilation: 6),
        .init(batch: 1, inChannels: 6, height: 7, width: 5, outChannels: 3, kernel: 1),
        .init(batch: 2, inChannels: 2, height: 3, width: 2, outChannels: 3, kernel: 1),
    ]

    @Test("pixels or images on the threads give the serial forward's values, with and without bias", arguments: geometries)
    func splitEqualsSerial(_ g: Conv2D.Geometry) throws {
        let x = randomValues(g.inputShape.reduce(1, *), seed: 21), w = randomValues(g.weightShape.reduce(1, *), seed: 22)
        let b = randomValues(g.outChannels, seed: 23)
        for bias in [b, nil] {
            let serial = try convolveForward(g, x, w, bias, .identity, .serial)
            let direct = closeness(serial, naiveConv(g, x, w, bias), rtol: 1e-5, atol: 1e-5)
            #expect(direct.passed, "\(g) serial vs direct: \(direct)")
            for (name, threading) in Self.threadings {
                // Each output pixel is the same dot product whichever thread computes it, but a
                // narrower GEMM may take OpenBLAS's edge kernels, which sum in another order: equal
                // to ~1 ulp, not bitwise (max 7e-7 abs on values of ~3 with OpenBLAS 0.3.21 Cooperlake).
                let c = closeness(try convolveForward(g, x, w, bias, .identity, threading), serial, rtol: 1e-6, atol: 1e-6)
                #expect(c.passed, "\(g) \(name), bias \(bias != nil): \(c)")
            }
        }
    }

    @Test("the fused bias + ReLU output pass equals the convolution followed by ReLU.forward", arguments: geometries)
    func fusedReLUEqualsSeparate(_ g: Conv2D.Geometry) throws {
        let x = randomValues(g.inputShape.reduce(1, *), seed: 31), w = randomValues(g.weightShape.reduce(1, *), seed: 32)
        let b = randomValues(g.outChannels, seed: 33)
        for bias in [b, nil] {
            for (name, threading) in [("serial", Threading.serial)] + Self.threadings {
                var separate = try convolveForward(g, x, w, bias, .identity, threading)
                try separate.withUnsafeMutableBufferPointer { y in try ReLU.forward(input: UnsafeBufferPointer(y), output: y) }
                let fused = try convolveForward(g, x, w, bias, .relu, threading)
                #expect(fused.contains { $0 == 0 } && fused.contains { $0 > 0 }, "\(g): both signs present")
                let c = closeness(fused, separate, rtol: 1e-6, atol: 1e-6)
                #expect(c.passed, "\(g) \(name), bias \(bias != nil): \(c)")
            }
        }
    }
}
