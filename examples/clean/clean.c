/* No bug: a correct extension. Every analysis should report zero findings in it. */
#include <Python.h>
#include <stdlib.h>

static PyObject *checksum(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n", &n)) return NULL;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "n must be >= 0"); return NULL; }
    long *values = calloc(n ? n : 1, sizeof(long));
    if (!values) return PyErr_NoMemory();
    long total = 0;
    for (Py_ssize_t i = 0; i < n; i++) { values[i] = (long)i * 3; total += values[i]; }
    free(values);
    PyObject *items = PyList_New(0);
    if (!items) return NULL;
    PyObject *result = Py_BuildValue("(lO)", total, items);
    Py_DECREF(items);
    return result;
}

static PyMethodDef methods[] = {{"checksum", checksum, METH_VARARGS, "sum of 3*i for i < n, and an empty list"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "clean", NULL, -1, methods};
PyMODINIT_FUNC PyInit_clean(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initclean(void) { Py_InitModule("clean", methods); }
#endif
