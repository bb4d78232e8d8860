/// Every SSD constant in one place (MXNet `example/ssd/symbol/symbol_factory.py` at 1.9.1,
/// facts file A.1–A.3): the VGG16-reduced base, the extra feature layers, and per source
/// the anchor sizes, ratios and steps.
public struct SSDConfig: Equatable, Sendable, Codable {
    /// One extra feature layer: 1×1 conv to max(128, filters/2), then 3×3 conv (stride, pad).
    public struct Extra: Equatable, Sendable, Codable {
        public var filters: Int
        public var stride: Int
        public var pad: Int
        /// Channels of the 1×1 conv (MXNet: max(min_filter 128, filters / 2)).
        public var bottleneck: Int
    }

    public var imageShape: Int
    public var numClasses: Int
    /// Output channels of conv1_1 … conv5_3 (13 convs), fc6, fc7.
    public var baseWidths: [Int]
    public var extras: [Extra]
    /// Per source (relu4_3, relu7, then each extra): anchor sizes and ratios.
    public var sizes: [[Float]]
    public var ratios: [[Float]]
    /// Per source normalized step, or nil for MXNet's auto (1 / feature size).
    public var steps: [Float]?
    /// Scale initial value of relu4_3's L2 normalization (SSD: 20).
    public var normalizationScale: Float = 20

    /// VGG16-reduced SSD for `imageShape` ≥ 300: the 300 configuration below 448, the 512 one
    /// from 448; steps only for exactly 300 and 512 (MXNet passes none otherwise).
    public static func vgg16Reduced(imageShape: Int, numClasses: Int) throws -> SSDConfig {
        guard imageShape >= 300 else { throw ModelError.unsupportedImageShape(imageShape, reason: "must be >= 300") }
        let widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
        func extra(_ f: Int, _ s: Int, _ p: Int) -> Extra { Extra(filters: f, stride: s, pad: p, bottleneck: max(128, f / 2)) }
        var config: SSDConfig
        if imageShape < 448 {
            config = SSDConfig(
                imageShape: imageShape, numClasses: numClasses, baseWidths: widths,
                extras: [extra(512, 2, 1), extra(256, 2, 1), extra(256, 1, 0), extra(256, 1, 0)],
                sizes: [[0.1, 0.141], [0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961]],
                ratios: [[1, 2, 0.5], [1, 2, 0.5, 3, 1.0 / 3], [1, 2, 0.5, 3, 1.0 / 3], [1, 2, 0.5, 3, 1.0 / 3], [1, 2, 0.5], [1, 2, 0.5]],
                steps: imageShape == 300 ? [8, 16, 32, 64, 100, 300].map { $0 / 300 } : nil)
        } else {
            config = SSDConfig(
                imageShape: imageShape, numClasses: numClasses, baseWidths: widths,
                extras: [extra(512, 2, 1), extra(256, 2, 1), extra(256, 2, 1), extra(256, 2, 1), extra(256, 1, 1)],
                sizes: [[0.07, 0.1025], [0.15, 0.2121], [0.3, 0.3674], [0.45, 0.5196], [0.6, 0.6708], [0.75, 0.8216], [0.9, 0.9721]],
                ratios: [[1, 2, 0.5]] + Array(repeating: [1, 2, 0.5, 3, 1.0 / 3], count: 4) + [[1, 2, 0.5], [1, 2, 0.5]],
                steps: imageShape == 512 ? [8, 16, 32, 64, 128, 256, 512].map { $0 / 512 } : nil)
        }
        _ = try config.featureSizes()
        return config
    }

    /// A small network with the same structure and code path, for tests: narrow channels, a
    /// 64×64 input, two extra layers (four sources: 8×8, 4×4, 2×2, 1×1).
    public static func tiny(numClasses: Int, imageShape: Int = 64) -> SSDConfig {
        SSDConfig(imageShape: imageShape, numClasses: numClasses,
                  baseWidths: [4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8, 12, 12],
                  extras: [Extra(filters: 8, stride: 2, pad: 1, bottleneck: 6), Extra(filters: 8, stride: 2, pad: 1, bottleneck: 6)],
                  sizes: [[0.15, 0.25], [0.35, 0.45], [0.55, 0.65], [0.75, 0.9]],
                  ratios: [[1, 2, 0.5], [1, 2, 0.5], [1, 2, 0.5], [1, 2]], steps: nil)
    }

    /// Number of sources (feature maps with heads).
    public var sourceCount: Int { 2 + extras.count }

    /// Spatial size of every source: relu4_3, relu7, then each extra. Throws when a layer
    /// would have no output (image too small for this configuration).
    public func featureSizes() throws -> [Int] {
        func conv(_ s: Int, _ k: Int, _ stride: Int, _ pad: Int, _ dilation: Int = 1) -> Int { (s + 2 * pad - dilation * (k - 1) - 1) / stride + 1 }
        func pool(_ s: Int, full: Bool) -> Int { full ? (s - 2 + 1) / 2 + 1 : (s - 2) / 2 + 1 }
        var s = imageShape
        s = pool(s, full: false); s = pool(s, full: false); s = pool(s, full: true)  // pool1, pool2, pool3 (ceil)
        var sizes = [s]                                    // relu4_3
        s = pool(s, full: false)                           // pool4
        s = conv(s, 3, 1, 1)                               // pool5 3x3 s1 p1 keeps the size
        s = conv(s, 3, 1, 6, 6)                            // fc6, dilation 6
        sizes.append(s)                                    // relu7
        for e in extras {
            s = conv(s, 3, e.stride, e.pad)
            guard s >= 1 else {
                throw ModelError.unsupportedImageShape(imageShape, reason: "the extra layers run out of feature map")
            }
            sizes.append(s)
        }
        return sizes
    }

    /// Anchors per cell of each source.
    public var anchorsPerCell: [Int] { zip(sizes, ratios).map { $0.count + $1.count - 1 } }

    /// Total anchors (8732 for SSD300, 24576 for SSD512).
    public func anchorCount() throws -> Int {
        zip(try featureSizes(), anchorsPerCell).reduce(0) { $0 + $1.0 * $1.0 * $1.1 }
    }

    /// Source names as MXNet names the heads' parameters.
    public var sourceNames: [String] {
        ["relu4_3", "relu7"] + extras.indices.map { "multi_feat_\($0 + 2)_conv_3x3_relu" }
    }
}
