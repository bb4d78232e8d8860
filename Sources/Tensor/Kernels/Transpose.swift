// NCHW → NHWC transpose followed by flatten, as SSD's heads do before concatenating the
// per-scale predictions (MXNet transpose(axes=(0,2,3,1)) + Flatten); optionally of a range of
// the channels only (two heads computed as one convolution, each flattened from its channels).
// Legend: N batch, C channels, H×W spatial.

/// Reorders an N×C×H×W map into N rows of H·W·C values (channel fastest).
public enum NHWCFlatten {
    /// `output[n, (h·W + w)·C + c] = input[n, c, h, w]`.
    public static func forward(
        batch: Int, channels: Int, height: Int, width: Int,
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        try forward(batch: batch, channels: 0..<channels, of: channels, height: height, width: width, input: input, output: output)
    }

    /// Channels `channels` of an N×`total`×H×W map, flattened: with C' = channels.count,
    /// `output[n, (h·W + w)·C' + c − lo] = input[n, c, h, w]` for c in `channels` (lo its first).
    public static func forward(
        batch: Int, channels: Range<Int>, of total: Int, height: Int, width: Int,
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        let plane = height * width, kept = channels.count
        try check("NHWCFlatten", channels, of: total)
        try TensorError.check("NHWCFlatten", "input", count: input.count, expected: [batch, total, height, width])
        try TensorError.check("NHWCFlatten", "output", count: output.count, expected: [batch, plane * kept])
        for n in 0..<batch {
            let x = input.baseAddress! + (n * total + channels.lowerBound) * plane, y = output.baseAddress! + n * kept * plane
            for c in 0..<kept { for p in 0..<plane { y[p * kept + c] = x[c * plane + p] } }
        }
    }

    /// The inverse permutation of the gradient: `gradInput[n,c,h,w] += gradOutput[n, (h·W+w)·C + c]`.
    public static func backward(
        batch: Int, channels: Int, height: Int, width: Int,
        gradOutput: UnsafeBufferPointer<Float>, gradInput: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        try backward(batch: batch, channels: 0..<channels, of: channels, height: height, width: width,
                     gradOutput: gradOutput, gradInput: gradInput)
    }

    /// The gradient of the channel-range `forward`: `gradInput[n,c,h,w] += gradOutput[n, (h·W+w)·C' + c − lo]`
    /// for c in `channels`; the other channels of `gradInput` are left as they are.
    public static func backward(
        batch: Int, channels: Range<Int>, of total: Int, height: Int, width: Int,
        gradOutput: UnsafeBufferPointer<Float>, gradInput: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        let plane = height * width, kept = channels.count
        try check("NHWCFlatten.backward", channels, of: total)
        try TensorError.check("NHWCFlatten.backward", "gradInput", count: gradInput.count, expected: [batch, total, height, width])
        try TensorError.check("NHWCFlatten.backward", "gradOutput", count: gradOutput.count, expected: [batch, plane * kept])
        for n in 0..<batch {
            let dy = gradOutput.baseAddress! + n * kept * plane, dx = gradInput.baseAddress! + (n * total + channels.lowerBound) * plane
            for c in 0..<kept { for p in 0..<plane { dx[c * plane + p] += dy[p * kept + c] } }
        }
    }

    private static func check(_ kernel: String, _ channels: Range<Int>, of total: Int) throws(TensorError) {
        guard channels.lowerBound >= 0, channels.upperBound <= total else {
            throw .invalidGeometry(kernel: kernel, reason: "channels \(channels) outside the map's 0..<\(total)")
        }
    }
}
