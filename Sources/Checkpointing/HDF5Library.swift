import CHDF5
import Foundation

// Process-wide libhdf5 state.
//
// Many HDF5 "constants" (H5T_NATIVE_FLOAT, H5P_LINK_CREATE, H5F_ACC_TRUNC, …) are C
// macros of the form `(H5open(), H5T_NATIVE_FLOAT_g)` that Swift cannot import. The
// underlying `*_g` globals are only valid after `H5open()`, so every use goes through
// `HDF5Library.shared`, whose initialiser runs `H5open()` exactly once.
//
// Debian's libhdf5 is the serial, non-thread-safe build: every call into the library
// is made while holding `lock`.
final class HDF5Library {
    static let shared = HDF5Library()

    let lock = NSRecursiveLock()

    // Memory (native) types.
    let nativeFloat: hid_t
    let nativeInt64: hid_t
    let nativeUInt8: hid_t
    let cString: hid_t
    // File types: fixed little-endian so files are identical on every host.
    let fileFloat32: hid_t
    let fileInt64: hid_t
    let fileUInt8: hid_t
    /// bfloat16: float32's sign and exponent with 7 mantissa bits, in 2 bytes
    /// (h5py reads it with `.astype("f4")`).
    let fileBFloat16: hid_t
    // Property-list classes.
    let linkCreateClass: hid_t
    let fileAccessClass: hid_t

    // Values of simple macros, spelled out because the importer drops their casts.
    static let defaultPlist: hid_t = 0        // H5P_DEFAULT
    static let allSpace: hid_t = 0            // H5S_ALL
    static let defaultErrorStack: hid_t = 0   // H5E_DEFAULT
    static let variableSize: Int = -1         // H5T_VARIABLE == (size_t)-1
    static let accReadOnly: UInt32 = 0x0000   // H5F_ACC_RDONLY
    static let accTruncate: UInt32 = 0x0002   // H5F_ACC_TRUNC

    private init() {
        _ = H5open()
        // The library prints its whole error stack to stderr on every failed call by
        // default; failures are reported as HDF5Error instead.
        _ = H5Eset_auto2(HDF5Library.defaultErrorStack, nil, nil)
        nativeFloat = H5T_NATIVE_FLOAT_g
        nativeInt64 = H5T_NATIVE_INT64_g
        nativeUInt8 = H5T_NATIVE_UINT8_g
        cString = H5T_C_S1_g
        fileFloat32 = H5T_IEEE_F32LE_g
        fileInt64 = H5T_STD_I64LE_g
        fileUInt8 = H5T_STD_U8LE_g
        fileBFloat16 = H5Tcopy(H5T_IEEE_F32LE_g)
        _ = H5Tset_fields(fileBFloat16, 15, 7, 8, 0, 7)
        _ = H5Tset_precision(fileBFloat16, 16)
        _ = H5Tset_size(fileBFloat16, 2)
        _ = H5Tset_ebias(fileBFloat16, 127)
        linkCreateClass = H5P_CLS_LINK_CREATE_ID_g
        fileAccessClass = H5P_CLS_FILE_ACCESS_ID_g
    }

    /// Runs `body` while holding the library lock.
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// File-access list that keeps HDF5 file locking on where the file system supports
    /// it, but does not fail where it does not (some network/overlay file systems).
    func fileAccessList() -> hid_t {
        let fapl = H5Pcreate(fileAccessClass)
        if fapl >= 0 { _ = H5Pset_file_locking(fapl, true, true) }
        return fapl
    }

    /// The most specific message on the current HDF5 error stack, or "" when empty.
    /// The stack is walked from the API call inwards, so the last entry is the cause.
    func lastErrorMessage() -> String {
        let stack = H5Eget_current_stack()
        guard stack >= 0 else { return "" }
        defer { _ = H5Eclose_stack(stack) }
        var messages: [String] = []
        withUnsafeMutablePointer(to: &messages) { box in
            _ = H5Ewalk2(stack, H5E_WALK_DOWNWARD, { _, error, data in
                let list = data!.assumingMemoryBound(to: [String].self)
                if let desc = error?.pointee.desc { list.pointee.append(String(cString: desc)) }
                return 0
            }, box)
        }
        return (messages.last ?? "").split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}

/// Closes an HDF5 identifier with the matching close function when the scope ends.
struct HDF5Handle {
    let id: hid_t

    func close() {
        guard id >= 0 else { return }
        switch H5Iget_type(id) {
        case H5I_DATASET: _ = H5Dclose(id)
        case H5I_GROUP: _ = H5Gclose(id)
        case H5I_DATATYPE: _ = H5Tclose(id)
        case H5I_DATASPACE: _ = H5Sclose(id)
        case H5I_ATTR: _ = H5Aclose(id)
        case H5I_GENPROP_LST: _ = H5Pclose(id)
        case H5I_FILE: _ = H5Fclose(id)
        default: break
        }
    }
}

/// Human-readable name of an HDF5 type class, for error messages.
func hdf5ClassName(_ typeID: hid_t) -> String {
    let size = H5Tget_size(typeID)
    switch H5Tget_class(typeID) {
    case H5T_INTEGER:
        let signed = H5Tget_sign(typeID) == H5T_SGN_2
        return "\(signed ? "int" : "uint")\(size * 8)"
    case H5T_FLOAT: return "float\(size * 8)"
    case H5T_STRING: return "string"
    case H5T_COMPOUND: return "compound"
    case H5T_ENUM: return "enum"
    case H5T_ARRAY: return "array"
    case H5T_VLEN: return "vlen"
    case H5T_OPAQUE: return "opaque"
    case H5T_REFERENCE: return "reference"
    case H5T_BITFIELD: return "bitfield"
    default: return "unknown type"
    }
}
