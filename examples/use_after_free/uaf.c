/* Bug: uses a Python object after its last reference is gone. A release build reads stale data and
 * carries on; with the memory debug hooks (pymalloc-debug, any debug build) the freed block is filled
 * with 0xDD, so its type pointer is 0xDDDDDDDDDDDDDDDD and PyBytes_AsString, called on line 10,
 * crashes. (bytes, not float: floats go back to a freelist and would never be filled.) */
#include <Python.h>

static PyObject *use_after_free(PyObject *self, PyObject *args) {
    PyObject *obj = PyBytes_FromStringAndSize("use after free", 14);
    Py_DECREF(obj);                        /* last reference: obj is freed here */
    printf("%s\n", PyBytes_AsString(obj)); /* <- use after free */
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"use_after_free", use_after_free, METH_NOARGS, "prints a freed object"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "uaf", NULL, -1, methods};
PyMODINIT_FUNC PyInit_uaf(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC inituaf(void) { Py_InitModule("uaf", methods); }
#endif
