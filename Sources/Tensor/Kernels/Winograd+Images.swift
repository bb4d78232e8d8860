// Winograd with the images of a batch on separate threads, for many threads.
//
// The batch path (`Winograd.convolve`, `weightGradient`) runs one chunk of tiles at a time: the
// input transform split over channels, the 16 (or 36) GEMMs one per thread, the output transform
// split over output channels, with a barrier between each. On 16 cores that leaves threads idle
// (a 64-channel layer's transforms use at most 8 chunks of 8 channels, 36 GEMMs make 3 rounds of
// 16) and the barriers come every few milliseconds: one worker with 16 threads trained SSD300 at
// 2.78 images/s against 2.65 with 8 (16-core Xeon, Benchmarks/results/README.md, "Many cores").
// Here each thread takes a fixed contiguous share of the images and runs the whole Winograd
// convolution of its share single-threaded in its own workspace: no barrier inside a layer.
// Opt-in (`Conv2D.Workspace.winogradImagesInParallelMinimumThreads`): not yet measured on many
// cores, and slower than the batch path on 2.
// The transformed weights are made once and shared; weight gradients are summed per thread
// and then added in thread order, so results depend on the thread count only.

extension Winograd {
    /// Whether Winograd passes over `batch` images take them one share per thread: GEMMs on the
    /// kernels' own threads, at least the workspace's `winogradImagesInParallelMinimumThreads` of
    /// them, and at least one image per thread. `convolve` (forward, input gradient) and
    /// `weightGradient` ask it.
    static func imagesInParallel(batch: Int, workspace: Conv2D.Workspace, threading: Threading) -> Bool {
        guard let minimum = workspace.winogradImagesInParallelMinimumThreads else { return false }
        return threading.gemmsOnOwnThreads && threading.threads >= minimum && batch >= threading.threads
    }

    /// `weightGradient` with the images one share per thread (`imagesInParallel`; a share's own
    /// workspace never splits again): thread 0 adds into `gradWeight`, every other thread into
    /// its own partial, then the partials are added in thread order (`Conv2D.addPartials`).
    static func weightGradientByImages(_ algorithm: Algorithm, _ g: Conv2D.Geometry, input x: UnsafePointer<Float>,
                                       gradOutput dy: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>,
                                       workspace: Conv2D.Workspace, threading: Threading) {
        let shares = workspace.imageWorkspaces(min(threading.gemmThreads, g.batch))
        let weights = g.outChannels * g.inChannels * 9
        let partials = shares.indices.map { t -> UnsafeMutablePointer<Float> in
            if t == 0 { return dw }
            let partial = shares[t].buffer(weights, slot: Conv2D.Workspace.imagePartialSlot)
            partial.update(repeating: 0, count: weights)
            return partial
        }
        let (imageIn, imageOut) = (g.inChannels * g.height * g.width, g.outChannels * g.height * g.width)
        threading.forEachShare(g.batch) { images, t in
            var share = g
            share.batch = images.count
            weightGradient(algorithm, share, input: x + images.lowerBound * imageIn, gradOutput: dy + images.lowerBound * imageOut,
                           gradWeight: partials[t], workspace: shares[t], threading: .serial)
        }
        Conv2D.addPartials(Array(partials.dropFirst()), into: dw, count: weights, threading: threading)
    }

    /// Each thread convolves its share of the images with the shared transformed weights `u`,
    /// single-threaded, through its own workspace.
    static func convolveByImages(
        _ algorithm: Algorithm, batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int, bias: UnsafePointer<Float>?,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool, workspace: Conv2D.Workspace, threading: Threading
    ) {
        let shares = workspace.imageWorkspaces(min(threading.gemmThreads, batch))
        threading.forEachShare(batch) { images, t in
            convolve(algorithm, batch: images.count, input: x + images.lowerBound * c * h * w, channels: c, height: h, width: w,
                     transformedWeights: u, outChannels: k, bias: bias, output: y + images.lowerBound * k * h * w,
                     accumulate: accumulate, workspace: shares[t], threading: .serial)
        }
    }
}
