import DetectionData
import Foundation
import Testing

@Suite("Class names and box labels")
struct LabelsTests {
    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("labels-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("class names come from the annotations' categories, or a file (JSON array or lines)")
    func classNames() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let size = SageMakerAnnotation.ImageSize(width: 10, height: 10)
        try SageMakerAnnotation(file: "a.jpg", imageSize: size, annotations: [], categories: [.init(class_id: 1, name: "dog")])
            .encoded().write(to: URL(fileURLWithPath: "\(dir)/a.json"))
        #expect(try ClassNames.fromAnnotations(directory: dir, numClasses: 2) == nil)  // class 0 unnamed so far
        try SageMakerAnnotation(file: "b.jpg", imageSize: size, annotations: [], categories: [.init(class_id: 0, name: "cat")])
            .encoded().write(to: URL(fileURLWithPath: "\(dir)/b.json"))
        #expect(try ClassNames.fromAnnotations(directory: dir, numClasses: 2) == ["cat", "dog"])
        try SageMakerAnnotation(file: "c.jpg", imageSize: size, annotations: [], categories: [.init(class_id: 1, name: "wolf")])
            .encoded().write(to: URL(fileURLWithPath: "\(dir)/0.json"))
        #expect(throws: DetectionDataError.self) { try ClassNames.fromAnnotations(directory: dir, numClasses: 2) }

        try Data("cat\n\n dog \n".utf8).write(to: URL(fileURLWithPath: "\(dir)/names.txt"))
        #expect(try ClassNames.read(file: "\(dir)/names.txt", numClasses: 2) == ["cat", "dog"])
        try Data(#"["cat", "dog", "bird"]"#.utf8).write(to: URL(fileURLWithPath: "\(dir)/names.json"))
        #expect(try ClassNames.read(file: "\(dir)/names.json") == ["cat", "dog", "bird"])
        #expect(throws: DetectionDataError.self) { try ClassNames.read(file: "\(dir)/names.json", numClasses: 2) }
    }

    @Test("FreeType draws a label's glyphs inside its measured box, in the text color")
    func fontDraws() throws {
        let font = try LabelFont()
        let size = font.measure("dog 0.87", pixelSize: 16)
        #expect(size.width > 30 && size.width < 100 && size.height >= 16 && size.height <= 24)
        var image = RGBImage(width: 120, height: 40, fill: (0, 0, 0))
        font.draw("dog 0.87", on: &image, x: 10, y: 5, pixelSize: 16, color: (255, 255, 255))
        var inked: [(Int, Int)] = []
        for y in 0..<image.height { for x in 0..<image.width where image[x, y].0 > 0 { inked.append((x, y)) } }
        #expect(inked.count > 60)
        #expect(inked.allSatisfy { $0.0 >= 10 && $0.0 < 10 + size.width + 2 && $0.1 >= 5 && $0.1 < 5 + size.height })
        #expect(inked.allSatisfy { image[$0.0, $0.1].0 == image[$0.0, $0.1].1 })  // grey levels of white on black
        #expect(throws: LabelFont.Unavailable.self) { try LabelFont(path: "/nonexistent/font.ttf") }
    }

    @Test("a labelled box draws its outline and a filled tab with the text above the box")
    func labelledBox() throws {
        let font = try LabelFont()
        var image = RGBImage(width: 200, height: 200, fill: (255, 255, 255))
        Drawing.drawLabelledBox(on: &image, box: [0.25, 0.5, 0.75, 0.9], label: "cat 0.91", color: (0, 0, 200), font: font)
        #expect(image[50, 120] == (0, 0, 200))       // left edge of the box
        #expect(image[100, 150] == (255, 255, 255))  // inside stays
        // The tab sits right above the box's top-left corner, text in white on the dark color.
        var tab = 0, text = 0
        for y in 80..<100 { for x in 50..<120 {
            if image[x, y] == (0, 0, 200) { tab += 1 } else if image[x, y].0 > 0 && image[x, y].0 == image[x, y].1 { text += 1 }
        } }
        #expect(tab > 200 && text > 20)
    }
}
