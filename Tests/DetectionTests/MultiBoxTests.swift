import Detection
import Foundation
import TestSupport
import Testing

func detectionFixture(_ name: String) throws -> Fixture {
    guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw Fixture.LoadError.unreadable(path: "Fixtures/\(name) (resource folder missing)")
    }
    return try Fixture(contentsOf: dir.appendingPathComponent(name))
}

@Suite("Anchors, targets, detection (MXNet contrib.MultiBox*)")
struct MultiBoxTests {
    @Test("anchors of a 1x1 map by hand: sizes first, then the other ratios")
    func anchorsByHand() {
        let g = AnchorGenerator(sizes: [0.5, 0.8], ratios: [1, 4])
        let a = g.anchors(height: 1, width: 1)
        #expect(g.anchorsPerCell == 3)
        #expect(closeness(a, [0.25, 0.25, 0.75, 0.75, 0.1, 0.1, 0.9, 0.9, 0, 0.375, 1, 0.625], rtol: 1e-6, atol: 1e-7).passed, "\(a)")
    }

    @Test("anchors equal MXNet's MultiBoxPrior (sizes, ratios, steps, clip, 38x38 SSD300 map)")
    func anchorsMatchMXNet() throws {
        let f = try detectionFixture("multibox.bin")
        let cases = f.arrays.keys.filter { $0.hasPrefix("prior") && $0.hasSuffix("/params") }.map { String($0.dropLast(7)) }
        #expect(cases.count == 4)
        for name in cases {
            let p = try f.values("\(name)/params")
            let steps: (y: Float, x: Float)? = p[4] > 0 ? (p[4], p[5]) : nil
            let g = AnchorGenerator(sizes: try f.values("\(name)/sizes"), ratios: try f.values("\(name)/ratios"), steps: steps, clip: p[6] == 1)
            let c = closeness(g.anchors(height: Int(p[0]), width: Int(p[1])), try f.values("\(name)/anchors"), rtol: 1e-5, atol: 1e-6)
            #expect(c.passed, "\(name): \(c)")
        }
    }

    @Test("IoU and the box encoding by hand")
    func boxesByHand() {
        #expect(abs(BoxCoder.iou([0, 0, 2, 2], [1, 1, 3, 3]) - 1.0 / 7.0) < 1e-7)
        #expect(BoxCoder.iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0)
        let anchor: [Float] = [0.2, 0.2, 0.6, 0.4], box: [Float] = [0.3, 0.2, 0.5, 0.5]
        var t = [Float](repeating: 0, count: 4), back = t
        box.withUnsafeBufferPointer { b in anchor.withUnsafeBufferPointer { a in t.withUnsafeMutableBufferPointer { tp in
            BoxCoder.encode(box: b.baseAddress!, anchor: a.baseAddress!, into: tp.baseAddress!)
        } } }
        #expect(abs(t[0]) < 1e-6 && abs(t[1] - 2.5) < 1e-5 && abs(t[2] - log(0.5) / 0.2) < 1e-5 && abs(t[3] - log(1.5) / 0.2) < 1e-5)
        t.withUnsafeBufferPointer { tp in anchor.withUnsafeBufferPointer { a in back.withUnsafeMutableBufferPointer { o in
            BoxCoder.decode(offsets: tp.baseAddress!, anchor: a.baseAddress!, clip: false, into: o.baseAddress!)
        } } }
        #expect(closeness(back, box, rtol: 1e-5, atol: 1e-6).passed)
    }

    @Test("targets equal MXNet's MultiBoxTarget: matching, mining, encoding, padding rows, empty image")
    func targetsMatchMXNet() throws {
        let f = try detectionFixture("multibox.bin")
        let anchors = try f.values("target/anchors"), labels = try f.array("target/labels"), preds = try f.array("target/clsPreds")
        let out = MultiBoxTarget().compute(anchors: anchors, labels: labels.values, labelWidth: 5, batch: 3,
                                           classPredictions: preds.values, classes: 3)
        #expect(out.clsTarget == (try f.values("target/clsTarget")))
        #expect(out.locMask == (try f.values("target/locMask")))
        let c = closeness(out.locTarget, try f.values("target/locTarget"), rtol: 1e-4, atol: 1e-5)
        #expect(c.passed, "\(c)")
        #expect(out.positives == [4, 1, 0])
    }

    @Test("detections equal MXNet's MultiBoxDetection, NMS at 0.45 and 0.2")
    func detectionMatchesMXNet() throws {
        let f = try detectionFixture("multibox.bin")
        let anchors = try f.values("detection/anchors"), prob = try f.values("detection/clsProb"), loc = try f.values("detection/loc")
        for nms: Float in [0.45, 0.2] {
            let name = "detection nms\(nms == 0.45 ? "0.45" : "0.2")"
            let out = MultiBoxDetection(nmsThreshold: nms).compute(probabilities: prob, offsets: loc, anchors: anchors, batch: 2, classes: 3)
            let expected = try f.values("\(name)/output")
            let ids = stride(from: 0, to: out.count, by: 6).map { out[$0] }, eids = stride(from: 0, to: expected.count, by: 6).map { expected[$0] }
            #expect(ids == eids, "\(name) class ids / suppression")
            let c = closeness(out, expected, rtol: 1e-4, atol: 1e-5)
            #expect(c.passed, "\(name): \(c)")
        }
    }

    @Test("topK -1 keeps every detection and topK 5 leaves the rest unsorted with class -1, as MXNet's nms_topk (issue 14.7)")
    func detectionTopKMatchesMXNet() throws {
        let f = try detectionFixture("multibox.bin")
        let anchors = try f.values("detection/anchors"), prob = try f.values("detection/clsProb"), loc = try f.values("detection/loc")
        for topK in [-1, 5] {
            let out = MultiBoxDetection(nmsThreshold: 0.45, topK: topK).compute(probabilities: prob, offsets: loc, anchors: anchors, batch: 2, classes: 3)
            let expected = try f.values("detection topk\(topK)/output")
            let ids = stride(from: 0, to: out.count, by: 6).map { out[$0] }, eids = stride(from: 0, to: expected.count, by: 6).map { expected[$0] }
            #expect(ids == eids, "topK \(topK): class ids / suppression")
            let c = closeness(out, expected, rtol: 1e-4, atol: 1e-5)
            #expect(c.passed, "topK \(topK): \(c)")
        }
        var rows: [(id: Int, score: Float, box: [Float])] = [(0, 0.9, [0, 0, 1, 1]), (0, 0.8, [0, 0, 1, 1])]
        NMS.suppress(&rows, threshold: 0.5, limit: -1)
        #expect(rows.map(\.id) == [0, -1])
    }

    @Test("NMS on four boxes by hand")
    func nmsByHand() {
        var rows: [(id: Int, score: Float, box: [Float])] = [
            (0, 0.9, [0, 0, 1, 1]), (0, 0.8, [0.05, 0, 1, 1]),  // overlaps the first: suppressed
            (1, 0.7, [0, 0, 1, 1]),                             // other class: kept
            (0, 0.6, [2, 2, 3, 3]),                             // far away: kept
        ]
        NMS.suppress(&rows, threshold: 0.5)
        #expect(rows.map(\.id) == [0, -1, 1, 0])
        NMS.suppress(&rows, threshold: 0.5, forceSuppress: true)
        #expect(rows.map(\.id) == [0, -1, -1, 0])
    }
}
