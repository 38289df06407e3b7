/* Bug (the python-ldap story): every call leaks one new empty list. The list goes into a tuple
 * with Py_BuildValue("(O)"), which takes its own reference; ours is never released. */
#include <Python.h>

static PyObject *search(PyObject *self, PyObject *args) {
    PyObject *controls = PyList_New(0);
    PyObject *result = Py_BuildValue("(iO)", 0, controls);
    /* missing: Py_DECREF(controls); */
    return result;
}

/* Bug 2: key() returns a new str and keeps one reference too many. A str is never tracked by the gc,
 * so no gc count names it: the leak hunt's trace-refs follow-up (sys.getobjects) does. */
static long keys = 0;

static PyObject *key(PyObject *self, PyObject *args) {
    PyObject *s = PyUnicode_FromFormat("key-%ld", keys++);
    Py_XINCREF(s); /* the extra reference nobody releases */
    return s;
}

static PyMethodDef methods[] = {
    {"search", search, METH_NOARGS, "returns (0, []) and leaks the list"},
    {"key", key, METH_NOARGS, "returns a new 'key-N' str and leaks it"},
    {NULL, NULL, 0, NULL}};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "refleak", NULL, -1, methods};
PyMODINIT_FUNC PyInit_refleak(void) { return PyModule_Create(&moddef); }
#else
PyMODINIT_FUNC initrefleak(void) { Py_InitModule("refleak", methods); }
#endif
