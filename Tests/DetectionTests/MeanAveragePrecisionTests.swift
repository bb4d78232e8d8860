@testable import Detection
import Foundation
import TestSupport
import Testing

typealias Det = MultiBoxDetection.Detection
typealias GT = VOCMeanAveragePrecision.GroundTruth

@Suite("mAP (MXNet SSD example's rules)")
struct MeanAveragePrecisionTests {
    let gt1 = GT(classId: 0, box: [0.1, 0.1, 0.4, 0.4]), gt2 = GT(classId: 0, box: [0.5, 0.5, 0.9, 0.9])

    @Test("TP, duplicate FP, TP: 11-point 0.8485, area 0.8333 (computed by hand)")
    func byHand() {
        var m11 = VOCMeanAveragePrecision(classes: 1), area = VOCMeanAveragePrecision(classes: 1, interpolation: .area)
        let dets = [Det(classId: 0, score: 0.9, box: [0.1, 0.1, 0.4, 0.41]), Det(classId: 0, score: 0.8, box: [0.11, 0.1, 0.4, 0.4]),
                    Det(classId: 0, score: 0.7, box: [0.5, 0.52, 0.9, 0.9])]
        m11.update(detections: dets, groundTruth: [gt1, gt2])
        area.update(detections: dets, groundTruth: [gt1, gt2])
        #expect(abs(m11.meanAveragePrecision() - (6 + 5 * 2.0 / 3) / 11) < 1e-9)
        #expect(abs(area.meanAveragePrecision() - (0.5 + 0.5 * 2.0 / 3)) < 1e-9)
    }

    @Test("a detection on a difficult box counts neither way; difficult boxes are not positives")
    func difficult() {
        var m = VOCMeanAveragePrecision(classes: 1, interpolation: .area)
        let hard = GT(classId: 0, box: [0.5, 0.5, 0.9, 0.9], difficult: true)
        m.update(detections: [Det(classId: 0, score: 0.95, box: [0.5, 0.5, 0.9, 0.9]), Det(classId: 0, score: 0.6, box: [0.1, 0.1, 0.4, 0.4])],
                 groundTruth: [gt1, hard])
        #expect(m.meanAveragePrecision() == 1)  // only the TP on gt1 remains
    }

    @Test("images without ground truth are skipped; classes with ground truth but no detection give AP 0")
    func skippedAndMissing() {
        var m = VOCMeanAveragePrecision(classes: 2, interpolation: .area)
        m.update(detections: [Det(classId: 0, score: 0.99, box: [0, 0, 1, 1])], groundTruth: [])  // skipped, not FP
        m.update(detections: [Det(classId: 0, score: 0.5, box: [0.1, 0.1, 0.4, 0.4])],
                 groundTruth: [gt1, GT(classId: 1, box: [0.2, 0.2, 0.3, 0.3])])
        #expect(m.averagePrecisions() == [0: 1, 1: 0])
        #expect(m.meanAveragePrecision() == 0.5)
    }

    @Test("IoU exactly at the threshold is a miss (strict >); equal scores in one image keep the input order (NumPy's reversed argsort, twice)")
    func thresholdAndTies() {
        var strict = VOCMeanAveragePrecision(classes: 1, interpolation: .area)
        // Box [0,0,1,0.5] vs [0,0,1,1]: IoU exactly 0.5.
        strict.update(detections: [Det(classId: 0, score: 0.9, box: [0, 0, 1, 0.5])], groundTruth: [GT(classId: 0, box: [0, 0, 1, 1])])
        #expect(strict.meanAveragePrecision() == 0)
        // A tie: FP listed first, then TP. The image's sort puts the TP first, the class-wide sort
        // (over fewer than 17 records) reverses the pair again: FP, TP → precision 1/2 at recall 1.
        var tie = VOCMeanAveragePrecision(classes: 1, interpolation: .area)
        tie.update(detections: [Det(classId: 0, score: 0.8, box: [0.6, 0.6, 0.7, 0.7]), Det(classId: 0, score: 0.8, box: [0.1, 0.1, 0.4, 0.4])],
                   groundTruth: [gt1])
        #expect(tie.meanAveragePrecision() == 0.5)
        var swapped = VOCMeanAveragePrecision(classes: 1, interpolation: .area)
        swapped.update(detections: [Det(classId: 0, score: 0.8, box: [0.1, 0.1, 0.4, 0.4]), Det(classId: 0, score: 0.8, box: [0.6, 0.6, 0.7, 0.7])],
                       groundTruth: [gt1])
        #expect(swapped.meanAveragePrecision() == 1)
    }

    @Test("a difficult box counts as a positive when its class has no detection in the image (MXNet example's rule)")
    func difficultWithoutDetection() {
        var m = VOCMeanAveragePrecision(classes: 2, interpolation: .area)
        m.update(detections: [Det(classId: 1, score: 0.9, box: [0.1, 0.1, 0.4, 0.4])],
                 groundTruth: [GT(classId: 1, box: [0.1, 0.1, 0.4, 0.4]), GT(classId: 0, box: [0.5, 0.5, 0.9, 0.9], difficult: true)])
        m.update(detections: [Det(classId: 0, score: 0.8, box: [0.5, 0.5, 0.9, 0.9])], groundTruth: [GT(classId: 0, box: [0.5, 0.5, 0.9, 0.9])])
        #expect(m.averagePrecisions() == [1: 1, 0: 0.5])  // class 0: one TP of two positives
    }

    @Test("equals the MXNet SSD example's MApMetric / VOC07MApMetric rules, and with rules: .gluonCV GluonCV's own metric, on the committed fixture, to 1e-12")
    func matchesExampleRules() throws {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent("voc_map.json") else {
            throw Fixture.LoadError.unreadable(path: "Fixtures/voc_map.json (resource folder missing)")
        }
        let fixture = try JSONDecoder().decode(VOCMapFixture.self, from: Data(contentsOf: url))
        #expect(fixture.cases.count >= 10)
        for c in fixture.cases {
            let runs: [(VOCMeanAveragePrecision.Rules, VOCMeanAveragePrecision.Interpolation, VOCMapFixture.Expected)] = [
                (.mxnetExample, .elevenPoint, c.elevenPoint), (.mxnetExample, .area, c.area),
                (.gluonCV, .elevenPoint, c.gluoncv.elevenPoint), (.gluonCV, .area, c.gluoncv.area),
            ]
            for (rules, interpolation, expected) in runs {
                var m = VOCMeanAveragePrecision(classes: 3, overlapThreshold: c.overlapThreshold, interpolation: interpolation, rules: rules)
                for image in c.images {
                    m.update(detections: image.detections.map { Det(classId: Int($0[0]), score: $0[1], box: Array($0[2..<6])) },
                             groundTruth: image.groundTruth.map { GT(classId: Int($0[0]), box: Array($0[1..<5]), difficult: $0[5] > 0) })
                }
                let aps = m.averagePrecisions(), label = "\(c.name) \(rules) \(interpolation)"
                #expect(Set(aps.keys) == Set(expected.ap.keys.compactMap { Int($0) }), "\(label): classes")
                for (k, v) in expected.ap {
                    let got = aps[Int(k)!] ?? -1
                    #expect(v.map { abs(got - $0) <= 1e-12 } ?? got.isNaN, "\(label): AP of class \(k) \(got) vs \(String(describing: v))")
                }
                let mAP = m.meanAveragePrecision()
                #expect(expected.mAP.map { abs(mAP - $0) <= 1e-12 } ?? mAP.isNaN, "\(label): mAP \(mAP) vs \(String(describing: expected.mAP))")
            }
        }
    }
}

@Test("NumPyArgsort orders ties exactly as numpy.argsort (introsort) does, below and above 16 elements")
func numpyArgsortMatches() throws {
    let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("voc_map.json")
    let fixture = try JSONDecoder().decode(VOCMapFixture.self, from: Data(contentsOf: url))
    #expect(fixture.argsorts.count == 8)
    for a in fixture.argsorts { #expect(NumPyArgsort.ascending(a.values) == a.order, "\(a.values.count) values") }
}

/// `scripts/fixtures/make_voc_map.py`'s output.
struct VOCMapFixture: Decodable {
    struct Argsort: Decodable { var values: [Double]; var order: [Int] }
    var argsorts: [Argsort]
    struct Image: Decodable { var detections: [[Float]]; var groundTruth: [[Float]] }
    struct Expected: Decodable { var ap: [String: Double?]; var mAP: Double? }
    struct Both: Decodable { var elevenPoint: Expected; var area: Expected }
    struct Case: Decodable {
        var name: String; var overlapThreshold: Float; var images: [Image]; var elevenPoint: Expected; var area: Expected; var gluoncv: Both
    }
    var cases: [Case]
}
