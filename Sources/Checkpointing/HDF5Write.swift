import CHDF5

// Dataset writers. Datasets are contiguous and uncompressed; intermediate groups are
// created on the way. Writing a name that already exists replaces it.

extension HDF5File {
    public func write(_ dataset: String, floats: [Float], shape: [Int]) throws {
        try writeNumeric(dataset, values: floats, shape: shape,
                         fileType: lib.fileFloat32, memType: lib.nativeFloat)
    }

    /// Writes bfloat16 values (their bit patterns) as a 2-byte float dataset.
    public func write(_ dataset: String, bfloat16 bits: [UInt16], shape: [Int]) throws {
        try writeNumeric(dataset, values: bits, shape: shape,
                         fileType: lib.fileBFloat16, memType: lib.fileBFloat16)
    }

    public func write(_ dataset: String, int64s: [Int64], shape: [Int]) throws {
        try writeNumeric(dataset, values: int64s, shape: shape,
                         fileType: lib.fileInt64, memType: lib.nativeInt64)
    }

    public func write(_ dataset: String, uint8s: [UInt8], shape: [Int]) throws {
        try writeNumeric(dataset, values: uint8s, shape: shape,
                         fileType: lib.fileUInt8, memType: lib.nativeUInt8)
    }

    /// Writes a variable-length UTF-8 string as a scalar dataset (h5py reads it as `bytes`,
    /// or `str` through `.asstr()`).
    public func write(_ dataset: String, string: String) throws {
        try lib.locked {
            let type = utf8StringType()
            let space = HDF5Handle(id: H5Screate(H5S_SCALAR))
            defer { type.close(); space.close() }
            let did = try createDataset(dataset, type: type.id, space: space.id)
            defer { did.close() }
            let status = string.withCString { chars -> herr_t in
                var pointers: [UnsafePointer<CChar>?] = [chars]
                return H5Dwrite(did.id, type.id, HDF5Library.allSpace, HDF5Library.allSpace,
                                HDF5Library.defaultPlist, &pointers)
            }
            guard status >= 0 else { throw failure(dataset, "H5Dwrite") }
        }
    }

    // MARK: - Internals (callers hold the lock)

    private func writeNumeric<T>(_ dataset: String, values: [T], shape: [Int],
                                 fileType: hid_t, memType: hid_t) throws {
        try lib.locked {
            guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
                throw HDF5Error.shapeMismatch(path: path, name: dataset, shape: shape, count: values.count)
            }
            let space = try dataspace(shape, dataset)
            defer { space.close() }
            let did = try createDataset(dataset, type: fileType, space: space.id)
            defer { did.close() }
            guard !values.isEmpty else { return }
            let status = values.withUnsafeBytes {
                H5Dwrite(did.id, memType, HDF5Library.allSpace, HDF5Library.allSpace,
                         HDF5Library.defaultPlist, $0.baseAddress)
            }
            guard status >= 0 else { throw failure(dataset, "H5Dwrite") }
        }
    }

    /// A scalar dataspace for shape `[]`, a simple one otherwise.
    func dataspace(_ shape: [Int], _ name: String) throws -> HDF5Handle {
        let id: hid_t
        if shape.isEmpty {
            id = H5Screate(H5S_SCALAR)
        } else {
            let dims = shape.map { hsize_t($0) }
            id = H5Screate_simple(Int32(dims.count), dims, nil)
        }
        guard id >= 0 else { throw failure(name, "creating dataspace \(shape)") }
        return HDF5Handle(id: id)
    }

    /// Variable-length, UTF-8, null-terminated string type (the caller closes it).
    func utf8StringType() -> HDF5Handle {
        let type = H5Tcopy(lib.cString)
        _ = H5Tset_size(type, HDF5Library.variableSize)
        _ = H5Tset_cset(type, H5T_CSET_UTF8)
        return HDF5Handle(id: type)
    }

    /// Creates (or replaces) a dataset, creating missing parent groups.
    private func createDataset(_ name: String, type: hid_t, space: hid_t) throws -> HDF5Handle {
        let file = try openFile()
        let target = Self.normalized(name)
        guard target != "." else { throw HDF5Error.wrongKind(path: path, name: name, expected: "dataset name") }
        if linkExists(name) {
            guard H5Ldelete(file, target, HDF5Library.defaultPlist) >= 0 else {
                throw failure(name, "replacing existing object")
            }
        }
        let lcpl = HDF5Handle(id: H5Pcreate(lib.linkCreateClass))
        defer { lcpl.close() }
        _ = H5Pset_create_intermediate_group(lcpl.id, 1)
        let did = H5Dcreate2(file, target, type, space, lcpl.id,
                             HDF5Library.defaultPlist, HDF5Library.defaultPlist)
        guard did >= 0 else { throw failure(name, "H5Dcreate2") }
        return HDF5Handle(id: did)
    }
}
