/* Bug: a malloc'd buffer is never freed (Memcheck: definitely lost at the malloc line). */
#include <Python.h>
#include <stdlib.h>
#include <string.h>

static PyObject *leaky_function(PyObject *self, PyObject *args) {
    char *buf = malloc(1024);              /* <- leaked: never freed */
    memset(buf, 'x', 1024);
    return PyLong_FromLong(buf[0]);
}

static PyMethodDef methods[] = {
    {"leaky_function", leaky_function, METH_NOARGS, "leaks 1024 bytes per call"},
    {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "leak", NULL, -1, methods};
PyMODINIT_FUNC PyInit_leak(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initleak(void) { Py_InitModule("leak", methods); }
#endif
