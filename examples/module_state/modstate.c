/* No bug: state built at import and kept for the life of the interpreter, as real extensions do:
 * a lookup table from PyMem_Malloc in a C global, Python objects held by the module and by C
 * globals, and a zlib stream (memory the system library allocates) reused by every call.
 * At exit Memcheck finds those blocks still held ("possibly lost", "still reachable"): pydbg
 * counts them apart; they are not findings, and the run exits 0. */
#include <Python.h>
#include <zlib.h>

static unsigned long *crc_table; /* 256 entries, PyMem_Malloc'd once at import, never freed */
static PyObject *Error;          /* the module's exception type (also module.Error) */
static PyObject *names;          /* a dict name -> (index, bytes) (also module.names) */
static z_stream stream;          /* deflate state, allocated inside zlib at import */

#if PY_MAJOR_VERSION >= 3
#define BYTES_FMT "y*"
#else
#define BYTES_FMT "s*"
#endif

static PyObject *checksum(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, BYTES_FMT, &buf)) return NULL;
    const unsigned char *p = buf.buf;
    unsigned long c = 0xffffffffUL;
    for (Py_ssize_t i = 0; i < buf.len; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong(c ^ 0xffffffffUL);
}

static PyObject *compressed_size(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, BYTES_FMT, &buf)) return NULL;
    uLong bound = deflateBound(&stream, (uLong)buf.len);
    unsigned char *out = PyMem_Malloc(bound);
    if (!out) {
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    deflateReset(&stream);
    stream.next_in = buf.buf;
    stream.avail_in = (uInt)buf.len;
    stream.next_out = out;
    stream.avail_out = (uInt)bound;
    int rc = deflate(&stream, Z_FINISH);
    Py_ssize_t n = (Py_ssize_t)(bound - stream.avail_out);
    PyMem_Free(out);
    PyBuffer_Release(&buf);
    if (rc != Z_STREAM_END) {
        PyErr_SetString(Error, "deflate failed");
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"checksum", checksum, METH_VARARGS, "CRC-32 of a bytes object, from the table built at import"},
    {"compressed_size", compressed_size, METH_VARARGS, "deflated size of a bytes object, with the stream opened at import"},
    {NULL, NULL, 0, NULL}};

/* Everything the module keeps; 0 on success. */
static int init_state(PyObject *m) {
    crc_table = PyMem_New(unsigned long, 256);
    if (!crc_table) return -1;
    for (unsigned long n = 0; n < 256; n++) {
        unsigned long c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320UL ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
    if (deflateInit(&stream, Z_DEFAULT_COMPRESSION) != Z_OK) {
        PyErr_SetString(PyExc_RuntimeError, "deflateInit failed");
        return -1;
    }
    Error = PyErr_NewException("modstate.Error", NULL, NULL);
    if (!Error) return -1;
    Py_INCREF(Error);
    if (PyModule_AddObject(m, "Error", Error) < 0) return -1;
    names = PyDict_New();
    if (!names) return -1;
    for (int i = 0; i < 64; i++) {
        char key[16], value[32];
        PyOS_snprintf(key, sizeof key, "name%d", i);
        PyOS_snprintf(value, sizeof value, "value-%d-of-the-table", i);
        PyObject *entry = Py_BuildValue("(is)", i, value);
        if (!entry || PyDict_SetItemString(names, key, entry) < 0) {
            Py_XDECREF(entry);
            return -1;
        }
        Py_DECREF(entry);
    }
    Py_INCREF(names);
    return PyModule_AddObject(m, "names", names);
}

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "modstate", NULL, -1, methods};
PyMODINIT_FUNC PyInit_modstate(void) {
    PyObject *m = PyModule_Create(&moddef);
    if (m && init_state(m) < 0) Py_CLEAR(m);
    return m;
}
#else
PyMODINIT_FUNC initmodstate(void) {
    PyObject *m = Py_InitModule("modstate", methods);
    if (m) init_state(m);
}
#endif
