import ArgumentParser
import DetectionData
import Foundation

/// `ssd convert voc|coco`: a Pascal VOC or COCO data set to SageMaker's image + JSON annotation
/// channels (and MXNet `.lst` files for `ssd im2rec`).
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert Pascal VOC or COCO annotations into SageMaker's train/validation image + JSON annotation channels.",
        discussion: """
            Writes OUTPUT/<channel>/ (images, hard-linked when possible), OUTPUT/<channel>_annotation/ (one JSON per image: \
            file, image_size, annotations [class_id, left, top, width, height], categories), OUTPUT/<channel>.lst (MXNet's \
            list, 6 values per object with VOC's difficult flag last) and OUTPUT/classes.txt. Train with --data-root OUTPUT; \
            for RecordIO run the `ssd im2rec --list` commands it prints.
            """,
        subcommands: [VOC.self, COCO.self])

    /// Options both formats share.
    struct Common: ParsableArguments {
        @Option(help: "Output folder (the data root of the channels).") var output: String
        @Option(help: "Class names by id: a file with one name per line, or a comma-separated list (default: VOC: sorted names found; COCO: categories in id order).")
        var classes: String?
        @Flag(help: "Drop objects whose class is not in --classes instead of failing.") var skipUnknownClasses = false

        func classNames() throws -> [String]? {
            guard let classes else { return nil }
            var isDirectory: ObjCBool = false
            let names: [String]
            if FileManager.default.fileExists(atPath: classes, isDirectory: &isDirectory), !isDirectory.boolValue {
                guard let data = FileManager.default.contents(atPath: classes) else { throw ValidationError("--classes \(classes): cannot be read") }
                names = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            } else if classes.contains("/") || classes.hasSuffix(".txt") {
                throw ValidationError("--classes \(classes): no such file (give a file with one name per line, or a comma-separated list)")
            } else {
                names = classes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            let kept = names.filter { !$0.isEmpty }
            guard !kept.isEmpty else { throw ValidationError("--classes \(classes): no class names") }
            guard Set(kept).count == kept.count else { throw ValidationError("--classes \(classes): a name appears twice") }
            return kept
        }
    }

    struct VOC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "voc", abstract: "Pascal VOC year folder (Annotations/, ImageSets/Main/, JPEGImages/) to SageMaker channels.")

        @Argument(help: "VOC year folders, e.g. VOCdevkit/VOC2007 VOCdevkit/VOC2012 (a set is read from every folder that has it).")
        var directories: [String]
        @Option(help: "Image set (ImageSets/Main/NAME.txt) of the train channel.") var trainSet = "trainval"
        @Option(help: "Image set of the validation channel; `none` for no validation channel.") var validationSet = "test"
        @OptionGroup var common: Common

        func validate() throws {
            guard !directories.isEmpty else { throw ValidationError("give at least one VOC year folder") }
        }

        func run() throws {
            var splits = [(channel: "train", imageSet: trainSet)]
            if validationSet != "none" { splits.append((channel: "validation", imageSet: validationSet)) }
            let converter = VOCConverter(roots: directories, splits: splits, classes: try common.classNames(), skipUnknownClasses: common.skipUnknownClasses)
            let result = try converter.convert(to: common.output)
            report(result.channels, classes: result.classes, output: common.output)
            for (channel, set) in splits {
                let parts = (result.sources[channel] ?? []).map { "\($0.root) (\($0.images))" }
                print("  \(channel) = \(set) of " + parts.joined(separator: " + "))
            }
            if result.skippedObjects > 0 { print("  dropped \(result.skippedObjects) object(s) of classes outside --classes") }
        }
    }

    struct COCO: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coco", abstract: "COCO instances JSON to a SageMaker channel (one channel per file, or --validation-split).")

        @Argument(help: "instances_*.json") var file: String
        @Option(help: "Folder the images' file_name are relative to.") var images: String
        @Option(help: "Channel to write (train, validation, …).") var channel = "train"
        @Option(help: "Fraction of the images (the last in id order) written to the validation channel instead.") var validationSplit: Double = 0
        @Option(help: "iscrowd boxes: skip (default), difficult (kept; the VOC mAP ignores them) or keep (ordinary boxes, as MXNet's mscoco.py).")
        var crowd: COCOConverter.CrowdPolicy = .skip
        @OptionGroup var common: Common

        func validate() throws {
            guard validationSplit >= 0 && validationSplit < 1 else { throw ValidationError("--validation-split \(validationSplit) must lie in [0, 1)") }
            guard validationSplit == 0 || channel != "validation" else { throw ValidationError("--validation-split needs a --channel other than validation") }
        }

        func run() throws {
            let converter = COCOConverter(annotationFile: file, imageRoot: images, channel: channel, validationFraction: validationSplit,
                                          classes: try common.classNames(), skipUnknownClasses: common.skipUnknownClasses, crowd: crowd)
            let result = try converter.convert(to: common.output)
            report(result.channels, classes: result.classes, output: common.output)
            print("  category id → class id: " + result.classIds.sorted { $0.key < $1.key }.map { "\($0.key)→\($0.value)" }.joined(separator: " "))
            if result.skippedCrowd > 0 { print("  skipped \(result.skippedCrowd) crowd box(es) (--crowd skip)") }
            if result.skippedObjects > 0 { print("  dropped \(result.skippedObjects) box(es) of categories outside --classes") }
        }
    }

    static func report(_ channels: [ChannelSummary], classes: [String], output: String) {
        print("ssd convert: \(classes.count) classes (\(output)/classes.txt): \(classes.joined(separator: ", "))")
        for c in channels {
            print("  \(c.channel): \(c.images) images (\(c.emptyImages) without boxes), \(c.objects) boxes, \(c.difficult) difficult → "
                  + "\(output)/\(c.channel), \(output)/\(c.channel)_annotation, \(output)/\(c.channel).lst")
        }
        let longest = channels.map(\.longestLabel).max() ?? 2
        let samples = channels.first { $0.channel == "train" }.map { ", num_training_samples=\($0.images)" } ?? ""
        print("  num_classes=\(classes.count)\(samples); label_width ≥ \(longest) for the .lst/.rec (2 + 6 per object)")
        for c in channels {
            print("  RecordIO: mkdir -p \(output)/recordio/\(c.channel) && ssd im2rec --list \(output)/\(c.channel).lst --output \(output)/recordio/\(c.channel)/\(c.channel)")
        }
    }
}

extension COCOConverter.CrowdPolicy: ExpressibleByArgument {}
