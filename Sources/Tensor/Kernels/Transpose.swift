// NCHW → NHWC transpose followed by flatten, as SSD's heads do before concatenating the
// per-scale predictions (MXNet transpose(axes=(0,2,3,1)) + Flatten).
// Legend: N batch, C channels, H×W spatial.

/// Reorders an N×C×H×W map into N rows of H·W·C values (channel fastest).
public enum NHWCFlatten {
    /// `output[n, (h·W + w)·C + c] = input[n, c, h, w]`.
    public static func forward(
        batch: Int, channels: Int, height: Int, width: Int,
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        let shape = [batch, channels, height, width]
        try TensorError.check("NHWCFlatten", "input", count: input.count, expected: shape)
        try TensorError.check("NHWCFlatten", "output", count: output.count, expected: [batch, height * width * channels])
        let plane = height * width
        for n in 0..<batch {
            let x = input.baseAddress! + n * channels * plane, y = output.baseAddress! + n * channels * plane
            for c in 0..<channels { for p in 0..<plane { y[p * channels + c] = x[c * plane + p] } }
        }
    }

    /// The inverse permutation of the gradient: `gradInput[n,c,h,w] += gradOutput[n, (h·W+w)·C + c]`.
    public static func backward(
        batch: Int, channels: Int, height: Int, width: Int,
        gradOutput: UnsafeBufferPointer<Float>, gradInput: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        let shape = [batch, channels, height, width]
        try TensorError.check("NHWCFlatten.backward", "gradInput", count: gradInput.count, expected: shape)
        try TensorError.check("NHWCFlatten.backward", "gradOutput", count: gradOutput.count, expected: [batch, height * width * channels])
        let plane = height * width
        for n in 0..<batch {
            let dy = gradOutput.baseAddress! + n * channels * plane, dx = gradInput.baseAddress! + n * channels * plane
            for c in 0..<channels { for p in 0..<plane { dx[c * plane + p] += dy[p * channels + c] } }
        }
    }
}
