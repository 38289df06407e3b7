/* Bug: signed integer overflow (undefined behaviour) for the largest int; UBSan reports it. */
#include <Python.h>
#include <limits.h>

static PyObject *next_id(PyObject *self, PyObject *arg) {
    int id = (int)PyLong_AsLong(arg);
    int next = id + 1;                     /* <- overflows when id == INT_MAX */
    return PyLong_FromLong(next);
}

static PyMethodDef methods[] = {{"next_id", next_id, METH_O, "id + 1, in a C int"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "ub", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ub(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initub(void) { Py_InitModule("ub", methods); }
#endif
