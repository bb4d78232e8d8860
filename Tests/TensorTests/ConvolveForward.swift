@testable import Tensor

/// `Conv2D.forward` of arrays (bias optional) into a fresh output filled with NaN, so a test sees
/// any element the forward path left unwritten.
func convolveForward(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ b: [Float]?, _ activation: Conv2D.Activation,
                     _ threading: Threading, workspace: Conv2D.Workspace = Conv2D.Workspace()) throws -> [Float] {
    var y = [Float](repeating: .nan, count: g.outputShape.reduce(1, *))
    try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try y.withUnsafeMutableBufferPointer { yp in
        if let b {
            try b.withUnsafeBufferPointer { bp in
                try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, activation: activation,
                                   workspace: workspace, threading: threading)
            }
        } else {
            try Conv2D.forward(g, input: xp, weight: wp, bias: nil, output: yp, activation: activation,
                               workspace: workspace, threading: threading)
        }
    } } }
    return y
}
