import Foundation

/// One image of a source data set in SageMaker's terms: its file, its size and its boxes in
/// pixels (left/top = upper-left corner), already checked against the image.
public struct ConvertedImage: Sendable {
    /// Where the image was described (names it in errors), e.g. `Annotations/000005.xml`.
    public var source: String
    /// The image file to place in the channel.
    public var imagePath: String
    /// Its file name inside the channel (unique there).
    public var name: String
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// The boxes, with class ids and VOC's `difficult` flags.
    public var boxes: [SageMakerAnnotation.Box]

    /// Creates an image entry.
    public init(source: String, imagePath: String, name: String, width: Int, height: Int, boxes: [SageMakerAnnotation.Box]) {
        self.source = source; self.imagePath = imagePath; self.name = name; self.width = width; self.height = height; self.boxes = boxes
    }
}

/// What `ssd convert` wrote for one channel.
public struct ChannelSummary: Equatable, Sendable {
    /// `train`, `validation`, …
    public var channel: String
    /// Images written.
    public var images: Int
    /// Boxes written.
    public var objects: Int
    /// Of those, marked difficult.
    public var difficult: Int
    /// Images without any box.
    public var emptyImages: Int
    /// Longest raw label of the `.lst` (2 + 6 × objects): the smallest `label_width` that reads it.
    public var longestLabel: Int
}

/// Writes one SageMaker image channel — `<root>/<channel>/` (images, hard-linked where the file
/// system allows, else copied), `<root>/<channel>_annotation/` (one JSON per image, same
/// basename) — and `<root>/<channel>.lst`, MXNet's list with object width 6 (`difficult` last,
/// as `example/ssd/tools/prepare_dataset.py` writes it), image paths relative to `<root>`, ready
/// for `ssd im2rec --list`.
public enum ChannelWriter {
    /// Fails if a folder of these channels exists and is not empty: call before reading
    /// anything, so a conversion writes all of its channels or none.
    public static func checkFree(channels: [String], root: String) throws {
        for channel in channels {
            for dir in [channel, channel + "_annotation"].map({ (root as NSString).appendingPathComponent($0) }) {
                if let files = try? FileManager.default.contentsOfDirectory(atPath: dir), !files.isEmpty {
                    throw ConversionError.channelExists(path: dir)
                }
            }
        }
    }

    /// Writes `images` as `channel` under `root`; `categories` are the class names by id.
    public static func write(_ images: [ConvertedImage], channel: String, categories: [String], to root: String) throws -> ChannelSummary {
        guard !images.isEmpty else { throw ConversionError.emptySplit(source: root, channel: channel) }
        let fm = FileManager.default
        let imageDir = (root as NSString).appendingPathComponent(channel)
        let annotationDir = imageDir + "_annotation"
        for dir in [imageDir, annotationDir] {
            do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw ConversionError.missingFile(path: dir, reason: "cannot create the channel folder: \(error.localizedDescription)")
            }
        }
        var seen: [String: String] = [:]
        for image in images {
            let stem = (image.name as NSString).deletingPathExtension
            if let first = seen[stem] { throw ConversionError.duplicateImage(name: stem, first: first, second: image.source) }
            seen[stem] = image.source
        }
        let cats = categories.enumerated().map { SageMakerAnnotation.Category(class_id: $0.offset, name: $0.element) }
        var summary = ChannelSummary(channel: channel, images: 0, objects: 0, difficult: 0, emptyImages: 0, longestLabel: 2)
        var lines: [String] = []
        for (index, image) in images.enumerated() {
            let target = (imageDir as NSString).appendingPathComponent(image.name)
            try place(image.imagePath, at: target, source: image.source)
            let annotation = SageMakerAnnotation(file: image.name, imageSize: .init(width: image.width, height: image.height),
                                                 annotations: image.boxes, categories: cats)
            let jsonPath = (annotationDir as NSString).appendingPathComponent((image.name as NSString).deletingPathExtension + ".json")
            try writeFile(try annotation.encoded(), to: jsonPath)
            // The .lst label comes from the same conversion the loader applies to the JSON, so both channels agree.
            let label = DetectionLabel.pack(try annotation.objects(source: image.source), withDifficult: true)
            lines.append(ListFile.line(ListFile.Entry(index: index, label: label, path: channel + "/" + image.name)))
            summary.images += 1
            summary.objects += image.boxes.count
            summary.difficult += image.boxes.filter { $0.difficult == true }.count
            if image.boxes.isEmpty { summary.emptyImages += 1 }
            summary.longestLabel = max(summary.longestLabel, label.count)
        }
        try writeFile(Data((lines.joined(separator: "\n") + "\n").utf8), to: (root as NSString).appendingPathComponent(channel + ".lst"))
        return summary
    }

    /// Writes the class names, one per line (reusable as `--classes FILE`).
    public static func writeClasses(_ names: [String], to path: String) throws {
        try writeFile(Data((names.joined(separator: "\n") + "\n").utf8), to: path)
    }

    /// Hard link (no second copy of a large data set), else a copy; an older file there is replaced.
    static func place(_ source: String, at target: String, source described: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: source) else {
            throw ConversionError.missingFile(path: source, reason: "image of \(described) does not exist")
        }
        if fm.fileExists(atPath: target) {
            do { try fm.removeItem(atPath: target) } catch {
                throw ConversionError.missingFile(path: target, reason: "cannot replace the file: \(error.localizedDescription)")
            }
        }
        if (try? fm.linkItem(atPath: source, toPath: target)) != nil { return }
        do { try fm.copyItem(atPath: source, toPath: target) } catch {
            throw ConversionError.missingFile(path: target, reason: "cannot copy \(source) there: \(error.localizedDescription)")
        }
    }

    static func writeFile(_ data: Data, to path: String) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ConversionError.missingFile(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

extension SageMakerAnnotation.Box {
    /// Checks a pixel box against its image: positive size, inside it with 0.5 px of slack
    /// (the same rule `SageMakerAnnotation.objects` applies when the channel is read).
    /// `difficult` nil leaves the key out of the JSON (a data set without the notion).
    static func checked(classId: Int, left: Double, top: Double, width: Double, height: Double, difficult: Bool?,
                        imageWidth: Int, imageHeight: Int, file: String, field: String) throws -> SageMakerAnnotation.Box {
        let box = [left, top, left + width, top + height]
        guard box.allSatisfy(\.isFinite), width > 0, height > 0 else {
            throw ConversionError.badBox(file: file, field: field, box: box, width: imageWidth, height: imageHeight, reason: "has no area (xmin ≥ xmax or ymin ≥ ymax)")
        }
        guard left >= -0.5, top >= -0.5, left + width <= Double(imageWidth) + 0.5, top + height <= Double(imageHeight) + 0.5 else {
            throw ConversionError.badBox(file: file, field: field, box: box, width: imageWidth, height: imageHeight, reason: "lies outside the image")
        }
        return SageMakerAnnotation.Box(class_id: classId, left: left, top: top, width: width, height: height, difficult: difficult)
    }
}
