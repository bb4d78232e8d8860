import Foundation

/// An MXNet symbol graph as `mx.sym.save` writes it (nnvm's JSON graph, MXNet 1.9.1):
///
/// ```
/// {"nodes": [{"op": "null", "name": "data", "inputs": []},
///            {"op": "Convolution", "name": "conv1_1", "attrs": {"kernel": "(3, 3)", …},
///             "inputs": [[0, 0, 0], [1, 0, 0], [2, 0, 0]]}, …],
///  "arg_nodes": [indices of the "null" (variable) nodes],
///  "node_row_ptr": [prefix sums of each node's output count],
///  "heads": [[node, output, 0]],
///  "attrs": {"mxnet_version": ["int", 10901]}}
/// ```
///
/// An input is `[node, output index, version]`; auxiliary states (BatchNorm's moving
/// statistics) are read with version 1, as MXNet writes them. Attribute values are the strings
/// Python's `str()` gives the operator's keyword arguments (`"(3, 3)"`, `"True"`, `"2e-05"`).
/// Nodes are written in the order nnvm's `DFSVisit` gives (post-order from the heads, inputs
/// in order), so a symbol MXNet loads and saves again comes out identical.
public struct MXNetSymbol: Sendable {
    /// One operator or variable.
    public struct Node: Sendable, Equatable {
        public var op: String
        public var name: String
        public var attrs: [String: String]
        public var inputs: [Entry]
    }

    /// An output of a node, as an input of another.
    public struct Entry: Sendable, Equatable, Hashable {
        public var node: Int
        public var output: Int = 0
        /// 1 for auxiliary states (mutable inputs), 0 otherwise.
        public var version: Int = 0
    }

    /// Nodes in creation order (inputs always earlier); the JSON reorders them depth-first.
    public private(set) var nodes: [Node] = []
    /// Graph-level attributes beyond `mxnet_version`, as nnvm typed values (`["str", "…"]`).
    public var graphAttributes: [String: [Any & Sendable]] = [:]

    public init() {}

    /// A variable (a `null` node): `data`, a weight, a bias, an auxiliary state.
    public mutating func variable(_ name: String, attrs: [String: String] = [:]) -> Entry {
        nodes.append(Node(op: "null", name: name, attrs: attrs, inputs: []))
        return Entry(node: nodes.count - 1)
    }

    /// An operator applied to `inputs`.
    @discardableResult
    public mutating func op(_ op: String, _ name: String, _ inputs: [Entry], _ attrs: [String: String] = [:]) -> Entry {
        nodes.append(Node(op: op, name: name, attrs: attrs, inputs: inputs))
        return Entry(node: nodes.count - 1)
    }

    /// Outputs of an operator, counting hidden ones (what `node_row_ptr` counts): BatchNorm
    /// also returns its mean and variance, L2Normalization its norm, and max Pooling its
    /// workspace in MXNet 1.9.1's builds with MKL-DNN (the pip wheels; checked by
    /// scripts/fixtures/check_mxnet_symbol.py). Only max pooling is used here.
    static func outputCount(_ op: String) -> Int {
        switch op {
        case "BatchNorm": return 3
        case "L2Normalization", "Pooling": return 2
        default: return 1
        }
    }

    /// The JSON object for the graph whose outputs are `heads`.
    public func jsonObject(heads: [Entry]) -> [String: Any] {
        // nnvm DFSVisit: post-order from each head, inputs in order, each node once.
        var order: [Int] = [], seen = Set<Int>()
        func visit(_ root: Int) {
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            seen.insert(root)
            while !stack.isEmpty {
                let (n, k) = stack[stack.count - 1]
                if k < nodes[n].inputs.count {
                    stack[stack.count - 1].next += 1
                    let input = nodes[n].inputs[k].node
                    if seen.insert(input).inserted { stack.append((input, 0)) }
                } else {
                    order.append(n)
                    stack.removeLast()
                }
            }
        }
        for h in heads where !seen.contains(h.node) { visit(h.node) }
        var position = [Int: Int]()
        for (i, n) in order.enumerated() { position[n] = i }
        func entry(_ e: Entry) -> [Int] { [position[e.node]!, e.output, e.version] }
        var rowPointer = [0]
        let jsonNodes: [[String: Any]] = order.map { n in
            let node = nodes[n]
            rowPointer.append(rowPointer.last! + (node.op == "null" ? 1 : Self.outputCount(node.op)))
            var object: [String: Any] = ["op": node.op, "name": node.name, "inputs": node.inputs.map(entry)]
            if !node.attrs.isEmpty { object["attrs"] = node.attrs }
            return object
        }
        var attrs: [String: Any] = ["mxnet_version": ["int", 10901] as [Any]]
        for (k, v) in graphAttributes { attrs[k] = v }
        return [
            "nodes": jsonNodes,
            "arg_nodes": order.indices.filter { nodes[order[$0]].op == "null" },
            "node_row_ptr": rowPointer,
            "heads": heads.map(entry),
            "attrs": attrs,
        ]
    }

    /// The symbol file's bytes (pretty-printed, keys sorted).
    public func jsonData(heads: [Entry]) throws -> Data {
        try JSONSerialization.data(withJSONObject: jsonObject(heads: heads), options: [.prettyPrinted, .sortedKeys])
    }

    /// Python's `str()` of a tuple of integers: `(3, 3)`.
    static func tuple(_ values: [Int]) -> String { "(" + values.map(String.init).joined(separator: ", ") + ")" }

    /// Python's `str()` of a tuple of floats, each the shortest text that reads back as the
    /// same Float32 (MXNet parses these into float32).
    static func tuple(_ values: [Float]) -> String { "(" + values.map(number).joined(separator: ", ") + ")" }

    /// A float as Python prints it: `0.45`, `2e-05`, `20.0` (Swift's shortest round-trip text
    /// agrees with Python's `repr` but for integral values, which Python writes with `.0`).
    static func number(_ v: Float) -> String {
        v == v.rounded() && abs(v) < 1e16 ? String(format: "%.1f", Double(v)) : "\(v)"
    }

    /// Python's `str()` of a bool.
    static func bool(_ b: Bool) -> String { b ? "True" : "False" }
}
