/* Bug: writes one element before a PyMem_New block (Memcheck: InvalidWrite at the a[-1] line).
 * With Python's memory debug hooks on, the write lands in the hooks' pad bytes inside the real
 * malloc block: Valgrind sees nothing and the run dies later, at the PyMem_Free. */
#include <Python.h>

static PyObject *fill(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "n", &n)) return NULL;
    int *a = PyMem_New(int, n);
    if (!a) return PyErr_NoMemory();
    a[-1] = 0;                             /* <- one element before the block */
    long total = 0;
    for (Py_ssize_t i = 0; i < n; i++) { a[i] = (int)i; total += a[i]; }
    PyMem_Free(a);
    return PyLong_FromLong(total);
}

static PyMethodDef methods[] = {{"fill", fill, METH_VARARGS, "sum of range(n), through a PyMem_New buffer"}, {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "underwrite", NULL, -1, methods};
PyMODINIT_FUNC PyInit_underwrite(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initunderwrite(void) { Py_InitModule("underwrite", methods); }
#endif
