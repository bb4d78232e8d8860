import Tensor
import Testing
@testable import DetectionData

/// Renders `plan` of `image` at side `s` and returns the bounding box (normalized) of the bright
/// pixels (> 200 in all channels) of the result, or nil if none.
private func brightBox(_ image: RGBImage, plan: AugmentationPlan, size s: Int) -> SampleWindow? {
    var out = [Float](repeating: 0, count: 3 * s * s)
    out.withUnsafeMutableBufferPointer { Resize.render(image, window: plan.window, mirror: plan.mirror, size: s, fill: 0, into: $0) }
    var x0 = s, y0 = s, x1 = -1, y1 = -1
    for y in 0..<s {
        for x in 0..<s {
            let i = y * s + x
            if out[i] > 200 && out[s * s + i] > 200 && out[2 * s * s + i] > 200 {
                x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
            }
        }
    }
    guard x1 >= 0 else { return nil }
    return SampleWindow(x0: Float(x0) / Float(s), y0: Float(y0) / Float(s), x1: Float(x1 + 1) / Float(s), y1: Float(y1 + 1) / Float(s))
}

@Suite("Augmentation")
struct AugmentationTests {
    static let image = TestFiles.imageWithBox(width: 120, height: 80, x0: 30, y0: 20, x1: 90, y1: 60)
    static let object = DetectionObject(classId: 1, xmin: 0.25, ymin: 0.25, xmax: 0.75, ymax: 0.75)

    @Test("crop, expand and mirror keep the box on the drawn object", arguments: Array(0..<40))
    func boxFollowsPixels(seed: Int) throws {
        var rng = SeededGenerator(seed: UInt64(seed))
        var aug = Augmenter()
        aug.crop.probability = 1
        let plan = aug.plan(objects: [Self.object], rng: &rng)
        let s = 64, tol: Float = 2.5 / Float(s)
        guard let o = plan.objects.first else {
            Issue.record("the crop must keep the object (its center is in every valid crop)"); return
        }
        let seen = try #require(brightBox(Self.image, plan: plan, size: s))
        // The transformed box covers the object's pixels and is not bigger than them (± 2.5 px).
        #expect(abs(o.xmin - seen.x0) <= tol && abs(o.ymin - seen.y0) <= tol, "plan \(plan) seen \(seen)")
        #expect(abs(o.xmax - seen.x1) <= tol && abs(o.ymax - seen.y1) <= tol, "plan \(plan) seen \(seen)")
    }

    @Test("deterministic mode is the identity and the same seed gives the same plan")
    func deterministic() {
        let id = AugmentationPlan.identity([Self.object])
        #expect(id.window == .full && !id.mirror && id.color.isIdentity && id.objects == [Self.object])
        var a = SeededGenerator(mixing: 1, 2, 3), b = SeededGenerator(mixing: 1, 2, 3)
        #expect(Augmenter().plan(objects: [Self.object], rng: &a) == Augmenter().plan(objects: [Self.object], rng: &b))
    }

    @Test("mirror flips boxes left-right")
    func mirror() {
        let m = Augmenter.mirror([DetectionObject(classId: 0, xmin: 0.1, ymin: 0.2, xmax: 0.3, ymax: 0.4)])
        #expect(abs(m[0].xmin - 0.7) < 1e-6 && abs(m[0].xmax - 0.9) < 1e-6 && m[0].ymin == 0.2)
    }

    @Test("crop keeps objects whose center is inside and clips them")
    func cropEmitsByCenter() {
        let crop = SampleWindow(x0: 0.5, y0: 0, x1: 1, y1: 1)
        let kept = RandomCrop.apply(crop, to: [
            DetectionObject(classId: 0, xmin: 0.4, ymin: 0.1, xmax: 0.8, ymax: 0.5),  // center 0.6: kept, clipped
            DetectionObject(classId: 1, xmin: 0.0, ymin: 0.1, xmax: 0.6, ymax: 0.5),  // center 0.3: dropped
        ])
        #expect(kept.count == 1 && kept[0].classId == 0)
        #expect(kept[0].xmin == 0 && abs(kept[0].xmax - 0.6) < 1e-6)
    }

    @Test("color jitter keeps values in 0...255 and the identity changes nothing")
    func colorJitter() {
        var v: [Float] = [0, 128, 255, 10, 20, 30]
        v.withUnsafeMutableBufferPointer { ColorJitter.apply(ColorJitter.Draw(), to: $0, pixels: 2) }
        #expect(v == [0, 128, 255, 10, 20, 30])
        var rng = SeededGenerator(seed: 9)
        var cj = ColorJitter(); cj.probability = 1
        let d = cj.sample(rng: &rng)
        v.withUnsafeMutableBufferPointer { ColorJitter.apply(d, to: $0, pixels: 2) }
        #expect(v.allSatisfy { $0 >= 0 && $0 <= 255 })
        #expect(v != [0, 128, 255, 10, 20, 30])
    }
}
