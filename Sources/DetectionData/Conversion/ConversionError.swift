// Errors of `ssd convert`: every case names the file and the field (an XML path such as
// `object[2]/bndbox/xmin`, or a JSON path such as `annotations[7].bbox`) and says what to do.

/// An error reading a VOC or COCO data set for conversion.
public enum ConversionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A file or folder that the layout needs is missing or unreadable.
    case missingFile(path: String, reason: String)
    /// A VOC XML or COCO JSON file that does not parse.
    case malformed(file: String, reason: String)
    /// A required field is absent.
    case missingField(file: String, field: String)
    /// A field holds a value that is not usable (not a number, negative size, …).
    case badValue(file: String, field: String, value: String, reason: String)
    /// A box that does not lie inside its image (0.5 px of slack) or has no area.
    case badBox(file: String, field: String, box: [Double], width: Int, height: Int, reason: String)
    /// A VOC object whose class is not in `--classes`.
    case unknownClass(file: String, field: String, name: String, known: [String])
    /// A COCO annotation whose `category_id` is not among the file's categories.
    case unknownCategory(file: String, field: String, categoryId: Int, known: [Int])
    /// Two images that would get the same file name in one channel.
    case duplicateImage(name: String, first: String, second: String)
    /// A split with no images.
    case emptySplit(source: String, channel: String)
    /// A channel folder that already holds files (a stale annotation would be read as data).
    case channelExists(path: String)

    public var description: String {
        switch self {
        case let .missingFile(path, reason):
            return "\(path): \(reason)."
        case let .malformed(file, reason):
            return "\(file): cannot parse: \(reason). Fix or re-export the file."
        case let .missingField(file, field):
            return "\(file): \(field) is missing. Add it (VOC: <size><width>/<height>, <object><name>/<bndbox>; COCO: images[].width/height/file_name, annotations[].bbox)."
        case let .badValue(file, field, value, reason):
            return "\(file): \(field) = \"\(value.prefix(60))\" \(reason). Fix the annotation."
        case let .badBox(file, field, box, width, height, reason):
            return "\(file): \(field) box \(box) \(reason) (image \(width)×\(height)). Fix the annotation or the image size."
        case let .unknownClass(file, field, name, known):
            return "\(file): \(field) = \"\(name)\" is not one of --classes (\(known.joined(separator: ", "))). Add it to --classes, or pass --skip-unknown-classes to drop such objects as MXNet's prepare_dataset.py does."
        case let .unknownCategory(file, field, categoryId, known):
            return "\(file): \(field) = \(categoryId) is not an id of the file's categories (\(known.map(String.init).joined(separator: ", "))). Fix the annotation or add the category."
        case let .duplicateImage(name, first, second):
            return "both \(first) and \(second) would be written as \(name) in one channel. Rename one of them."
        case let .emptySplit(source, channel):
            return "\(source): the \(channel) split has no images. Choose another image set or split."
        case let .channelExists(path):
            return "\(path) already holds files; files left from an earlier conversion would be read as data. Remove it or choose another --output."
        }
    }
}
