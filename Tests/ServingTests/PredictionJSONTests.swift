import Detection
import Serving
import Testing

@Suite("SageMaker's response body")
struct PredictionJSONTests {
    @Test("rows are [class, score, xmin, ymin, xmax, ymax] with Python's float spelling; labels only when asked")
    func encoding() {
        let d = [MultiBoxDetection.Detection(classId: 4, score: 0.5, box: [0.25, 0.125, 0.75, 1]),
                 MultiBoxDetection.Detection(classId: 0, score: 0.3, box: [0, 0.1, 0.2, 0.3])]
        #expect(PredictionJSON.encode(d) == #"{"prediction": [[4.0, 0.5, 0.25, 0.125, 0.75, 1.0], "#
                + #"[0.0, 0.30000001192092896, 0.0, 0.10000000149011612, 0.20000000298023224, 0.30000001192092896]]}"#)
        #expect(PredictionJSON.encode([]) == #"{"prediction": []}"#)
        #expect(PredictionJSON.encode(Array(d.prefix(1)), labels: ["a \"b\"\n"])
                == #"{"prediction": [[4.0, 0.5, 0.25, 0.125, 0.75, 1.0]], "labels": ["a \"b\"\n"]}"#)
    }
}
