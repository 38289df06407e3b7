/*
 * pydbg example: a shared counter, for ThreadSanitizer on the free-threaded build.
 *
 * add_unlocked() increments a static counter from whichever threads call it: with the GIL that
 * was safe by accident; on the free-threaded build (PEP 703) two threads run it at once and lose
 * increments. add_locked() does the same under a PyMutex and is clean. The module declares
 * Py_MOD_GIL_NOT_USED, so importing it does not turn the GIL back on.
 */
#include <Python.h>

/* volatile only keeps the compiler from folding the loop into one addition, so the threads really
 * interleave, as they would in code doing more work per step; it is no lock */
static volatile long counter = 0;
static PyMutex counter_lock = {0};

static PyObject *add_unlocked(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    for (long i = 0; i < n; i++) {
        counter += 1; /* the race: read-modify-write without a lock */
    }
    Py_RETURN_NONE;
}

static PyObject *add_locked(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    for (long i = 0; i < n; i++) {
        PyMutex_Lock(&counter_lock);
        counter += 1;
        PyMutex_Unlock(&counter_lock);
    }
    Py_RETURN_NONE;
}

static PyObject *value(PyObject *self, PyObject *unused) {
    PyMutex_Lock(&counter_lock);
    long v = counter;
    PyMutex_Unlock(&counter_lock);
    return PyLong_FromLong(v);
}

static PyMethodDef methods[] = {
    {"add_unlocked", add_unlocked, METH_O, "counter += n, without a lock (races)"},
    {"add_locked", add_locked, METH_O, "counter += n, under a PyMutex"},
    {"value", value, METH_NOARGS, "the counter"},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "counter", NULL, 0, methods, slots};

PyMODINIT_FUNC PyInit_counter(void) { return PyModuleDef_Init(&module); }
