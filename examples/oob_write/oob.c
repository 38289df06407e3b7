/* Bug: writes ptr[10] into a block of 5 ints (Memcheck: InvalidWrite at the write). */
#include <Python.h>
#include <stdlib.h>

static PyObject *overflow(PyObject *self, PyObject *args) {
    int *ptr = malloc(5 * sizeof(int));
    ptr[10] = 42;                          /* <- out of bounds */
    free(ptr);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {{"overflow", overflow, METH_NOARGS, "writes past a malloc'd block"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "oob", NULL, -1, methods};
PyMODINIT_FUNC PyInit_oob(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initoob(void) { Py_InitModule("oob", methods); }
#endif
