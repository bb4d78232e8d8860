/// MXNet's pre-activation (v2) bottleneck ResNet as `example/ssd/symbol/resnet.py` builds it
/// for ImageNet-sized inputs: `bn_data` (fix_gamma) on the image, `conv0` 7×7/2 (no bias),
/// `bn0` + `relu0`, 3×3/2 max pool, then per stage units of
/// `bn1 → relu → conv1 (1×1, F/4) → bn2 → relu → conv2 (3×3, F/4, stride) → bn3 → relu →
/// conv3 (1×1, F)` plus a shortcut (the unit's input, or `sc`: 1×1 conv of the first ReLU's
/// output when the shape changes). The sums are MXNet's auto-named `_plus0`, `_plus1`, …
/// Batch norms use eps 2e-5 and, here, frozen (global) statistics.
extension TrunkBuilder {
    /// Builds the base with `filters` = [stem, stage 1 … stage 4] and `units` per stage;
    /// returns the sums SSD taps: the last unit of stage 3 and of stage 4 (ResNet-50:
    /// `_plus12` and `_plus15`).
    mutating func resnet(filters: [Int], units: [Int]) -> [Int] {
        precondition(filters.count == 5 && units.count == 4 && units.allSatisfy { $0 >= 1 }, "ResNet needs 5 filter counts and 4 unit counts")
        let eps: Float = 2e-5
        batchNorm("bn_data", from: TrunkNode.image, eps: eps, fixGamma: true, relu: false)
        conv("conv0", from: last, filters: filters[0], kernel: 7, stride: 2, pad: 3, bias: false, relu: false)
        batchNorm("bn0", from: last, eps: eps, relu: true)
        pool("pool0", from: last, kernel: 3, stride: 2, pad: 1)
        var sums = 0, taps: [Int] = []
        for stage in 0..<4 {
            let f = filters[stage + 1]
            for unit in 0..<units[stage] {
                let name = "stage\(stage + 1)_unit\(unit + 1)", input = last
                let stride = stage > 0 && unit == 0 ? 2 : 1
                let act1 = batchNorm("\(name)_bn1", from: input, eps: eps, relu: true)
                conv("\(name)_conv1", from: act1, filters: f / 4, kernel: 1, pad: 0, bias: false, relu: false)
                batchNorm("\(name)_bn2", from: last, eps: eps, relu: true)
                conv("\(name)_conv2", from: last, filters: f / 4, kernel: 3, stride: stride, pad: 1, bias: false, relu: false)
                batchNorm("\(name)_bn3", from: last, eps: eps, relu: true)
                let conv3 = conv("\(name)_conv3", from: last, filters: f, kernel: 1, pad: 0, bias: false, relu: false)
                let shortcut = unit > 0 ? input
                    : conv("\(name)_sc", from: act1, filters: f, kernel: 1, stride: stride, pad: 0, bias: false, relu: false)
                add("_plus\(sums)", conv3, shortcut)
                sums += 1
            }
            if stage >= 2 { taps.append(last) }
        }
        return taps
    }
}
