/* Bug: a branch depends on an uninitialised value (Memcheck: UninitCondition at the if). */
#include <Python.h>
#include <stdlib.h>

static PyObject *decide(PyObject *self, PyObject *args) {
    int *flags = malloc(4 * sizeof(int));  /* never initialised */
    long result = 0;
    if (flags[2] > 0)                      /* <- depends on uninitialised memory */
        result = 1;
    free(flags);
    return PyLong_FromLong(result);
}

static PyMethodDef methods[] = {{"decide", decide, METH_NOARGS, "branches on uninitialised memory"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "uninit", NULL, -1, methods};
PyMODINIT_FUNC PyInit_uninit(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC inituninit(void) { Py_InitModule("uninit", methods); }
#endif
