/* Bug: shifts by the caller's bit number with no range check; bit 40 is undefined behaviour. */
#include <Python.h>

static PyObject *flag_mask(PyObject *self, PyObject *arg) {
    int bit = (int)PyLong_AsLong(arg);
    unsigned int mask = 1u << bit;         /* <- undefined for bit >= 32 */
    return PyLong_FromUnsignedLong(mask);
}

static PyMethodDef methods[] = {{"flag_mask", flag_mask, METH_O, "1 << bit, in a C unsigned int"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "ub", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ub(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initub(void) { Py_InitModule("ub", methods); }
#endif
