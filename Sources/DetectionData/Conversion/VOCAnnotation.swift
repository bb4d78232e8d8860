import Foundation
#if canImport(FoundationXML)
import FoundationXML  // XMLParser lives here on Linux (libxml2)
#endif

/// One Pascal VOC annotation (`Annotations/<id>.xml`): the image size and its objects, boxes as
/// VOC writes them (pixel corners, 1-based, xmax/ymax inclusive).
public struct VOCAnnotation: Equatable, Sendable {
    /// One `<object>`.
    public struct Object: Equatable, Sendable {
        /// `<name>`, the class name.
        public var name: String
        /// `<bndbox>` corners in pixels.
        public var xmin: Double, ymin: Double, xmax: Double, ymax: Double
        /// `<difficult>1</difficult>` (absent = 0).
        public var difficult: Bool
    }

    /// `<filename>`, when present.
    public var filename: String?
    /// `<size><width>`.
    public var width: Int
    /// `<size><height>`.
    public var height: Int
    /// The objects in file order.
    public var objects: [Object]

    /// Reads and parses `path`.
    public static func read(path: String) throws -> VOCAnnotation {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConversionError.missingFile(path: path, reason: "cannot read the VOC annotation")
        }
        return try VOCAnnotation(xml: data, file: path)
    }

    /// Parses VOC XML; `file` names the source in errors, with the field's XML path.
    public init(xml: Data, file: String) throws {
        let root = try XMLElementTree.parse(xml, file: file)
        guard root.name == "annotation" else {
            throw ConversionError.malformed(file: file, reason: "the root element is <\(root.name)>, expected <annotation>")
        }
        filename = root.child("filename")?.text
        func int(_ node: XMLElementTree.Node?, _ field: String) throws -> Int {
            guard let node else { throw ConversionError.missingField(file: file, field: field) }
            guard let v = Double(node.text), v.isFinite, v > 0, v.rounded() == v, v < 1e6 else {
                throw ConversionError.badValue(file: file, field: field, value: node.text, reason: "is not a positive whole number of pixels")
            }
            return Int(v)
        }
        let size = root.child("size")
        width = try int(size?.child("width"), "annotation/size/width")
        height = try int(size?.child("height"), "annotation/size/height")
        objects = try root.children(named: "object").enumerated().map { i, node in
            let at = "annotation/object[\(i)]"
            guard let name = node.child("name")?.text, !name.isEmpty else { throw ConversionError.missingField(file: file, field: at + "/name") }
            guard let box = node.child("bndbox") else { throw ConversionError.missingField(file: file, field: at + "/bndbox") }
            func coordinate(_ tag: String) throws -> Double {
                let field = "\(at)/bndbox/\(tag)"
                guard let text = box.child(tag)?.text else { throw ConversionError.missingField(file: file, field: field) }
                guard let v = Double(text), v.isFinite else { throw ConversionError.badValue(file: file, field: field, value: text, reason: "is not a number") }
                return v
            }
            var difficult = false
            if let text = node.child("difficult")?.text {
                guard let v = Int(text), v == 0 || v == 1 else {
                    throw ConversionError.badValue(file: file, field: at + "/difficult", value: text, reason: "is not 0 or 1")
                }
                difficult = v == 1
            }
            return Object(name: name, xmin: try coordinate("xmin"), ymin: try coordinate("ymin"),
                          xmax: try coordinate("xmax"), ymax: try coordinate("ymax"), difficult: difficult)
        }
    }
}

/// A minimal element tree built with Foundation's `XMLParser` (elements, their trimmed text,
/// children; attributes are not needed for VOC).
enum XMLElementTree {
    final class Node {
        let name: String
        var text = ""
        var children: [Node] = []
        init(name: String) { self.name = name }
        /// The first child element named `name`.
        func child(_ name: String) -> Node? { children.first { $0.name == name } }
        /// Every child element named `name`, in order.
        func children(named name: String) -> [Node] { children.filter { $0.name == name } }
    }

    private final class Builder: NSObject, XMLParserDelegate {
        var stack: [Node] = []
        var root: Node?
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let node = Node(name: elementName)
            stack.last?.children.append(node)
            if stack.isEmpty { root = node }
            stack.append(node)
        }
        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            if let node = stack.popLast() { node.text = node.text.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
    }

    /// Parses `data`; a syntax error names the file and line.
    static func parse(_ data: Data, file: String) throws -> Node {
        let parser = XMLParser(data: data)
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "no root element"
            throw ConversionError.malformed(file: file, reason: "XML error at line \(parser.lineNumber): \(reason)")
        }
        // libxml2 (Linux) reports a file that ends inside an element as parsed: check it here.
        if let open = builder.stack.last {
            throw ConversionError.malformed(file: file, reason: "XML error at line \(parser.lineNumber): <\(open.name)> is not closed (the file ends early)")
        }
        return root
    }
}
